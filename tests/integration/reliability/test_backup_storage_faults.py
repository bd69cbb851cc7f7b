# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Object storage down or wrong credentials while the production backups are verified: a clear failure naming the
endpoint or the credentials, never a pass. A real SeaweedFS S3 server (tools/services), stopped or given wrong keys;
the playbook runs supertodo.platform.backup_verify and redis_backup_verify with the production inventory's paths."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from rel_helpers import SECRETS, playbook, record
from services.seaweedfs import SeaweedS3

PLAY = str(Path(__file__).resolve().parent / "backup_storage.yml")
BUCKET = "super-todo-backups"


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    yield server
    server.cleanup()


def _verify(endpoint, access_key, secret_key, *args):
    env = dict(SECRETS, SUPERTODO_BACKUP_S3_ACCESS_KEY_ID=access_key, SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY=secret_key)
    return playbook("production", PLAY, "-e", "backups_endpoint_url=%s" % endpoint, *args, extra_env=env,
                    cluster=False, timeout=300)


def _assert_clean_failure(run, *texts, secret=None):
    assert run.rc != 0, run.tail()
    assert "failed=0" not in run.stdout
    for text in texts:
        assert text in run.flat, "%r not in:\n%s" % (text, run.tail())
    assert "Traceback" not in run.flat
    if secret:
        assert secret not in run.stdout + run.stderr


def test_wrong_secret_key_fails_naming_the_endpoint_and_the_credentials(s3, request):
    run = _verify(s3.endpoint_url, s3.access_key, "not-the-secret-key-0123456789", "-e", "backup_storage_keep_going=true")
    _assert_clean_failure(run, "storage check failed", "credentials rejected by %s" % s3.endpoint_url,
                          "for bucket %s" % BUCKET, secret="not-the-secret-key-0123456789")
    # both checks fail, each on its own
    assert run.flat.count("credentials rejected by %s" % s3.endpoint_url) >= 2
    record(request, "S3 secret key wrong (real SeaweedFS)", "fails naming the endpoint and the credentials",
           run.fatal(), run.seconds)


def test_unknown_access_key_fails_naming_the_credentials(s3, request):
    run = _verify(s3.endpoint_url, "AKIANOTAKNOWNKEY0000", s3.secret_key)
    _assert_clean_failure(run, "credentials rejected by %s" % s3.endpoint_url, secret=s3.secret_key)
    record(request, "S3 access key unknown (real SeaweedFS)", "fails naming the credentials", run.fatal(), run.seconds)


def test_a_reachable_store_without_backups_is_a_failure_not_a_pass(s3, request):
    """The control: the right keys pass the storage check, and an empty archive still fails."""
    run = _verify(s3.endpoint_url, s3.access_key, s3.secret_key)
    _assert_clean_failure(run, "empty archive", secret=s3.secret_key)
    assert "credentials rejected" not in run.flat and "%s unreachable" % s3.endpoint_url not in run.flat
    record(request, "S3 reachable, right keys, no backup stored", "fails (archive check), not a pass", run.fatal(),
           run.seconds)


def test_stopped_s3_server_fails_naming_the_endpoint(request):
    server = SeaweedS3(buckets=(BUCKET,)).start()
    endpoint, access, secret = server.endpoint_url, server.access_key, server.secret_key
    server.cleanup()  # stopped: nothing listens on the endpoint any more
    run = _verify(endpoint, access, secret, "-e", "backup_storage_keep_going=true")
    _assert_clean_failure(run, "storage check failed", "endpoint %s unreachable" % endpoint, secret=secret)
    assert run.seconds < 120
    record(request, "S3 server stopped (real SeaweedFS, then stopped)", "fails naming the endpoint", run.fatal(),
           run.seconds)


@pytest.fixture
def hung_endpoint():
    """A loopback TCP server that accepts connections and never answers: a hung S3 endpoint. Closed at teardown."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    accepted = []

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except socket.timeout:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def test_hung_s3_endpoint_fails_within_the_read_timeout_naming_the_endpoint(hung_endpoint, request):
    """Accepts the connection, never answers: each verification fails after read_timeout (3s in the play), not
    after botocore's retries of 60s reads."""
    endpoint, accepted = hung_endpoint
    run = _verify(endpoint, "AKIAHUNGENDPOINT0000", "hung-endpoint-secret-0123456789", "-e",
                  "backup_storage_keep_going=true")
    _assert_clean_failure(run, "storage check failed", "endpoint %s did not answer while listing" % endpoint,
                          "no response within read_timeout 3s", secret="hung-endpoint-secret-0123456789")
    # both the PostgreSQL and the Redis verification, each once (a timed-out request is not repeated)
    assert run.flat.count("no response within read_timeout 3s") >= 2 and len(accepted) == 2
    assert run.seconds < 60
    record(request, "S3 endpoint hung (loopback socket: accepts, never answers)",
           "fails within read_timeout naming the endpoint", run.fatal(), run.seconds)
