"""Redis 7 (Debian redis-server) on loopback in a temporary directory, persistence files kept there."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from services.common import ServiceError, free_ports, port_open, stop_pid, wait_until


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, ``dir`` = a temp directory; ``appendonly`` optional."""

    def __init__(self, appendonly=False, workdir=None):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="redis7-")
        self.appendonly = appendonly
        self.port = None
        self.proc = None

    def start(self, timeout=30):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_ports(1, low=32000, high=34000)[0]
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.workdir,
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--protected-mode", "yes",
                "--daemonize", "no", "--logfile", os.path.join(self.workdir, "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_until(lambda: self.proc.poll() is None and port_open(self.port), timeout, "redis-server")
        except ServiceError:
            self.stop()
            raise
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

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
