"""What the benchmarks ran on, read at run time: printed at the top of each benchmark's output."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def _os_name():
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _ram_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return "%.1f GiB" % (int(line.split()[1]) / 1024 ** 2)
    except OSError:
        pass
    return "unknown"


def info(kubeconfig=None):
    """A dict of the machine's and the tools' facts; the API server's version when a kubeconfig is given."""
    try:
        from ansible.release import __version__ as ansible_core
    except ImportError:
        ansible_core = "not installed"
    facts = {
        "cpus": os.cpu_count(),
        "cpu model": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), platform.processor() or "unknown")
        if Path("/proc/cpuinfo").exists() else platform.processor(),
        "load average (1 min)": "%.2f" % os.getloadavg()[0],
        "ram": _ram_gib(),
        "os": "%s (kernel %s)" % (_os_name(), platform.release()),
        "python": platform.python_version(),
        "ansible-core": ansible_core,
        "kubectl": _first_line(["kubectl", "version", "--client"]),
        "helm": _first_line(["helm", "version", "--short"]),
    }
    if kubeconfig:
        facts["kube-apiserver"] = _server_version(kubeconfig)
    return facts


def _server_version(kubeconfig):
    import json
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
                         capture_output=True, text=True, timeout=30, check=False)
    try:
        return json.loads(out.stdout)["gitVersion"]
    except (ValueError, KeyError):
        return "unknown (%s)" % out.stderr.strip()[:80]


def print_info(kubeconfig=None):
    print("machine:")
    for key, value in info(kubeconfig).items():
        print("  %-22s %s" % (key, value))
    print()


class Timed:
    """Wall-clock and CPU seconds of what runs inside the block: this process plus the child processes that ended
    in it (the machine is shared, so CPU seconds are the steadier figure)."""

    def __enter__(self):
        import resource
        import time
        self._t = time.monotonic()
        self._c = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._s = resource.getrusage(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc):
        import resource
        import time
        self.wall = time.monotonic() - self._t
        c, s = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = (c.ru_utime - self._c.ru_utime + c.ru_stime - self._c.ru_stime
                    + s.ru_utime - self._s.ru_utime + s.ru_stime - self._s.ru_stime)
        return False
