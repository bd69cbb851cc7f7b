"""Reusable loopback test servers: SeaweedFS S3, PostgreSQL 15 with barman-cloud WAL archiving, Redis 7.

Each server listens on 127.0.0.1 only, on ports chosen free at start, keeps its data in a temporary directory,
and is stopped by the PID it was started with. Used by the integration tests, the benchmark and the restore drill
tests; never part of the collection's plugins.
"""

from services.common import ServiceError, free_ports, wait_until  # noqa: F401
