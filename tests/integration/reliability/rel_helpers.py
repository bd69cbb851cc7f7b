# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the reliability suite: run the real playbooks, snapshot the objects of a live cluster, record what
each drill saw (for docs/reliability.md)."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import tempfile
import time
from pathlib import Path

from localkube import paths
from localkube.cluster import Cluster

REPO = Path(__file__).resolve().parents[3]
# The local cluster serves Kubernetes 1.20 (docs/data-tier.md, tools/converge).
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)


def _random(n=32):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for dummy in range(n))


# Production secrets for this session only: random, so that a leak cannot be a coincidence.
SECRETS = {
    "SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": _random(),
    "SUPERTODO_POSTGRES_APP_PASSWORD": _random(),
    "SUPERTODO_REDIS_PASSWORD": _random(),
    "SUPERTODO_BACKUP_S3_ACCESS_KEY_ID": "AKIA" + _random(16).upper(),
    "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY": _random(40),
}
# The current setup's plain-text passwords (roles/preflight/defaults/main.yml, preflight_seed_passwords).
SEEDS = ["staging-dev-password-123", "staging-dev-redis-123", "production-secure-password-change-me-789",
         "production-secure-redis-password-change-me"]


def ansible_env(kubeconfig=None, extra=None, report_dir=None):
    """os.environ with the project's tools on PATH, without the caller's SUPERTODO_* values (but the schema dir), and
    with the Git URL of the cluster whose kubeconfig is given."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), str(paths.tools_bin()), str(REPO / "tools"),
                                   env.get("PATH", "")])
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    for key in list(env):
        if (key.startswith("SUPERTODO_") and key != "SUPERTODO_SCHEMA_DIR") or key.startswith("K8S_AUTH_"):
            env.pop(key)
    env.setdefault("SUPERTODO_SCHEMA_DIR", str(paths.schema_dir()))
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
        # the inventories' supertodo_git_url: that cluster's Git server, which its Flux double fetches
        git_url = Cluster(state_dir=Path(kubeconfig).parent, echo=False).git_url()
        if git_url:
            env["SUPERTODO_GIT_URL"] = git_url
    env["SUPERTODO_VERIFY_REPORT_DIR"] = str(report_dir or tempfile.mkdtemp(prefix="supertodo-verify-"))
    env.update(extra or {})
    return env


class Run:
    """A finished ansible-playbook run: ``rc``, ``stdout``, ``stderr``, ``seconds``, ``flat`` (whitespace folded)."""

    def __init__(self, proc, seconds, times=()):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        self.times = list(times)  # (seconds since the start, line) of every stdout line
        self.flat = " ".join((proc.stdout + "\n" + proc.stderr).split())

    def seconds_from(self, text):
        """Seconds from the first stdout line containing ``text`` (e.g. a task header) to the end of the run."""
        for at, line in self.times:
            if text in line:
                return self.seconds - at
        raise AssertionError("%r never printed" % text)

    def tail(self, n=6000):
        return self.stdout[-n:] + "\n--- stderr ---\n" + self.stderr[-2000:]

    def fatal(self):
        """The folded ``msg`` of the first failed task or loop item (its result's top-level key), for the report."""
        lines = self.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(("fatal:", "failed: [")) or "FAILED!" in line:
                for j in range(i + 1, len(lines)):
                    if lines[j].startswith("    msg:"):
                        end = j + 1
                        while end < len(lines) and lines[end].startswith("      "):
                            end += 1
                        return " ".join(" ".join(lines[j:end]).split())[len("msg: "):]
                    if lines[j].startswith("PLAY RECAP"):
                        break
                return " ".join(" ".join(lines[i:i + 12]).split())
        return ""

    def recap(self, key):
        line = [ln for ln in self.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
        return int(line.split(key + "=")[1].split()[0])


def playbook(env_name, name, *args, kubeconfig=None, extra_env=None, timeout=900, report_dir=None, cluster=True):
    """Run playbooks/<name> (or a path) with inventories/<env_name>; ``cluster`` adds the 1.20 cluster's vars."""
    path = name if os.path.isabs(str(name)) else "playbooks/%s" % name
    argv = ["ansible-playbook", "-i", "inventories/%s" % env_name, str(path)]
    if cluster:
        argv += OLD_CLUSTER
    env = ansible_env(kubeconfig, extra_env, report_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return run_streamed(argv + [str(a) for a in args], env, timeout=timeout)


def run_streamed(argv, env, timeout=900, on_line=None):
    """Run ``argv`` in the checkout, time-stamping each stdout line; ``on_line(line)`` is called as each arrives."""
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(argv, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        times = []
        try:
            for line in proc.stdout:
                times.append((time.monotonic() - start, line))
                if on_line:
                    on_line(line)
                if time.monotonic() - start > timeout:
                    proc.kill()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read()
    done = subprocess.CompletedProcess(argv, proc.returncode, "".join(line for _t, line in times), stderr)
    return Run(done, time.monotonic() - start, times)


# Kinds whose objects change on their own (heartbeats, leader leases, events) or have no resourceVersion.
_CHURN = {"events", "events.events.k8s.io", "leases.coordination.k8s.io", "componentstatuses", "nodes"}


def snapshot(kubectl, namespaces=None):
    """{"Kind/namespace/name": resourceVersion} of every listable object in the cluster (or in ``namespaces``),
    heartbeat kinds aside, plus the set of Namespaces. ``kubectl`` runs kubectl against the cluster."""
    proc = kubectl("api-resources", "--verbs=list", "-o", "name")
    assert proc.returncode == 0, proc.stderr
    kinds = [k for k in proc.stdout.split() if k not in _CHURN]
    out = {}
    targets = [["-A"]] if namespaces is None else [["-n", ns] for ns in namespaces]
    for target in targets:
        proc = kubectl("get", ",".join(kinds), *target, "-o", "json", timeout=180)
        assert proc.returncode == 0, proc.stderr
        for item in json.loads(proc.stdout)["items"]:
            meta = item["metadata"]
            if meta.get("resourceVersion"):
                out["%s/%s/%s" % (item["kind"], meta.get("namespace", ""), meta["name"])] = meta["resourceVersion"]
    return out


def applied_state(kubectl, namespaces, manager="supertodo.platform"):
    """{"Kind/namespace/name": what an apply could change} of every listable object in ``namespaces``: generation,
    labels, annotations, spec/data and the field manager's managedFields entry (its time and fields). For objects
    whose status a controller rewrites on its own interval (Flux sources, Kustomizations), where the resourceVersion
    moves without any apply."""
    proc = kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name")
    assert proc.returncode == 0, proc.stderr
    kinds = [k for k in proc.stdout.split() if k not in _CHURN]
    out = {}
    for ns in namespaces:
        proc = kubectl("get", ",".join(kinds), "-n", ns, "-o", "json", "--show-managed-fields", timeout=180)
        assert proc.returncode == 0, proc.stderr
        for item in json.loads(proc.stdout)["items"]:
            meta = item["metadata"]
            ours = [m for m in meta.get("managedFields") or [] if m.get("manager") == manager]
            out["%s/%s/%s" % (item["kind"], ns, meta["name"])] = json.dumps(
                [meta.get("generation"), meta.get("labels"), meta.get("annotations"), item.get("spec"),
                 item.get("data"), ours], sort_keys=True)
    return out


def snapshot_diff(before, after):
    """What differs between two snapshots: created, deleted, changed keys (empty lists when identical)."""
    return {"created": sorted(set(after) - set(before)), "deleted": sorted(set(before) - set(after)),
            "changed": sorted(k for k in before if k in after and before[k] != after[k])}


def record(request, fault, expected, seen, seconds=None):
    """Append what a test saw to ``$SUPERTODO_RELIABILITY_RECORD`` (JSON lines) when set: the source of the "seen"
    column of docs/reliability.md."""
    target = os.environ.get("SUPERTODO_RELIABILITY_RECORD")
    if not target:
        return
    entry = {"node": request.node.nodeid, "fault": fault, "expected": expected, "seen": seen,
             "seconds": round(seconds, 1) if seconds is not None else None}
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
