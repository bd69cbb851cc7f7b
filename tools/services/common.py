"""Helpers shared by the loopback servers: free ports, condition waits, stopping a process by its PID."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time


class ServiceError(RuntimeError):
    """A test server could not be started or stopped."""


def _port_free(port):
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
    for _ in range(2000):
        port = rng.randrange(low, high)
        wanted = [port + off for off in offsets]
        if taken.intersection(wanted) or not all(_port_free(p) for p in wanted):
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
