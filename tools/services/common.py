"""Helpers shared by the loopback servers: free ports, condition waits, stopping a process by its PID, and the
base class of the servers (:class:`LoopbackServer`)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class ServiceError(RuntimeError):
    """A test server could not be started or stopped."""


def port_free(port):
    """True when ``port`` can be bound on 127.0.0.1 (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count, offsets=(0,), low=20000, high=30000, rng=None):
    """Return ``count`` ports p such that p + every offset is free on 127.0.0.1 (e.g. offsets (0, 10000) for gRPC)."""
    rng = rng or random.Random()
    chosen = []
    taken = set()
    for dummy in range(2000):
        port = rng.randrange(low, high)
        wanted = [port + off for off in offsets]
        if taken.intersection(wanted) or not all(port_free(p) for p in wanted):
            continue
        chosen.append(port)
        taken.update(wanted)
        if len(chosen) == count:
            return chosen
    raise ServiceError("no free loopback ports found in %d-%d" % (low, high))


def wait_until(predicate, timeout, what, interval=0.1):
    """Poll ``predicate`` until it returns a true value, on a monotonic clock; raise ServiceError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except Exception as exc:  # noqa: BLE001 - the last error is reported on timeout
            last = exc
            result = None
        if result:
            return result
        time.sleep(interval)
    raise ServiceError("%s not ready after %ss (last error: %s)" % (what, timeout, last))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_pid(proc, timeout=20):
    """Stop a process we started (a ``subprocess.Popen``), by its PID: SIGTERM, then SIGKILL after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


class LoopbackServer:
    """What every test server shares: a work directory (removed by ``cleanup`` when it made it), one process
    started by :meth:`_spawn` with its output in ``log_path``, a readiness wait that stops the process and quotes
    the log on failure, ``stop`` by PID, and use as a context manager (``with Server() as s``)."""

    name = "server"
    prefix = "server-"
    log_name = "server.log"
    stop_timeout = 20

    def __init__(self, workdir=None):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=self.prefix)
        self.log_path = os.path.join(self.workdir, self.log_name)
        self.proc = None
        self._log = None

    def _spawn(self, args, **popen_kw):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     **popen_kw)
        return self.proc

    def _alive(self):
        if self.proc.poll() is not None:
            raise ServiceError("%s exited with %s" % (self.name, self.proc.returncode))
        return True

    def _wait_ready(self, predicate, timeout, what):
        try:
            wait_until(lambda: self._alive() and predicate(), timeout, what)
        except ServiceError as exc:
            self.stop()
            raise ServiceError("%s; log tail: %s" % (exc, self.log_tail())) from exc

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - size))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        stop_pid(self.proc, timeout=self.stop_timeout)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
