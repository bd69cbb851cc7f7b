"""Processes the local cluster starts: recorded by PID and kernel start time, stopped only by that PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path


def start_time(pid):
    """The process start time (clock ticks since boot) from /proc, or None when the PID is gone or a zombie."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(entry):
    """Whether the recorded process still runs (same PID and same start time: not a reused PID)."""
    return entry is not None and entry.get("start") is not None and start_time(entry["pid"]) == entry["start"]


def rss_kib(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def spawn(name, argv, log_dir: Path, env=None, cwd=None):
    """Start one server in its own session, output to <log_dir>/<name>.log. Returns (Popen, record)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / ("%s.log" % name)).open("ab") as log:
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    start = None
    deadline = time.monotonic() + 5
    while start is None and time.monotonic() < deadline and proc.poll() is None:
        start = start_time(proc.pid)
    return proc, {"name": name, "pid": proc.pid, "start": start, "argv": [str(a) for a in argv[:1]]}


def stop(entry, timeout=20.0):
    """SIGTERM the recorded PID (if it is still the process we started), SIGKILL after ``timeout``."""
    if not alive(entry):
        _reap(entry["pid"])
        return False
    pid = entry["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(entry):
            return True
        time.sleep(0.05)
    if alive(entry):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(entry) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    return True


def tail(path: Path, lines=8):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class PidFile:
    def __init__(self, path: Path):
        self.path = path

    def read(self):
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def write(self, entries):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(self.path)
