"""Redis 7 (Debian redis-server) on loopback in a temporary directory, persistence files kept there."""

from __future__ import annotations

import os
import shutil

from services.common import LoopbackServer, free_ports, port_open


class RedisServer(LoopbackServer):
    """``redis-server`` on 127.0.0.1:<free port>, ``dir`` = a temp directory; ``appendonly`` optional."""

    name = "redis-server"
    prefix = "redis7-"
    log_name = "redis.log"

    def __init__(self, appendonly=False, workdir=None):
        super().__init__(workdir)
        self.appendonly = appendonly
        self.port = None

    def start(self, timeout=30):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_ports(1, low=32000, high=34000)[0]
        # redis-server writes its own log file (--logfile); what reaches stdout/stderr goes to the same file.
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.workdir,
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--protected-mode", "yes",
                "--daemonize", "no", "--logfile", self.log_path]
        self._spawn(args)
        self._wait_ready(lambda: port_open(self.port), timeout, "redis-server on 127.0.0.1:%d" % self.port)
        return self

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)

    @property
    def rdb_path(self):
        return os.path.join(self.workdir, "dump.rdb")

    @property
    def aof_dir(self):
        return os.path.join(self.workdir, "appendonlydir")
