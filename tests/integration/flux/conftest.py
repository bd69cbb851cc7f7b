"""Fixtures of the Flux integration tests: the Flux controller double and a throw-away namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def flux_double(kube):
    """The cluster's Flux controller double; started here (and stopped by PID) when the cluster runs none."""
    procs = kube.cluster.status().get("processes") or {}
    if procs.get("flux-double", {}).get("running"):
        yield None
        return
    log = open(Path(kube.state_dir) / "flux-double-tests.log", "ab")
    env = dict(kube.env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tools")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.Popen([sys.executable, "-m", "localkube.fluxdouble", "--kubeconfig", kube.kubeconfig,
                             "--state-dir", str(kube.state_dir), "--schema-dir", env["SUPERTODO_SCHEMA_DIR"]],
                            env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _git(cwd, *args):
    out = subprocess.run(["git", "-c", "user.name=fluxtest", "-c", "user.email=fluxtest@localhost", *args],
                         cwd=str(cwd), capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, "git %s: %s" % (" ".join(args), out.stderr)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def fluxtest_repo(kube, tmp_path_factory):
    """``fluxtest.git`` on the cluster's Git server, branch main: one commit holding the test chart at the path
    the test HelmReleases name. Returns ``(url, commit)``."""
    from services.gitserver import init_bare

    init_bare(str(Path(kube.cluster.git_dir()) / "fluxtest.git"))
    url = kube.git_url.rsplit("/", 1)[0] + "/fluxtest.git"
    work = tmp_path_factory.mktemp("fluxtest-repo")
    _git(work, "init", "-q", "-b", "main")
    shutil.copytree(REPO / "tests/integration/flux/testchart", work / "tests/integration/flux/testchart")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "the test chart")
    _git(work, "push", "-q", "--force", url, "main")
    return url, _git(work, "rev-parse", "HEAD")


class Flux:
    """Runs the real modules through ``ansible`` (ad-hoc, JSON callback) against the test namespace."""

    def __init__(self, kube, namespace, repo=(None, None)):
        self.kube = kube
        self.namespace = namespace
        self.git_url, self.git_commit = repo
        self.env = dict(kube.env, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")

    def module(self, name, args, check=False, diff=False):
        argv = ["ansible", "localhost", "-m", "supertodo.platform.%s" % name, "-a", json.dumps(args)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=str(REPO), env=self.env, capture_output=True, text=True, timeout=900,
                              check=False)
        elapsed = time.monotonic() - t0
        try:
            out = json.loads(proc.stdout)
            result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError) as exc:
            raise AssertionError("ansible output not understood (%s):\n%s\n%s" % (exc, proc.stdout[-3000:],
                                                                                  proc.stderr[-3000:])) from exc
        result["_elapsed"] = elapsed
        return result

    def reconcile(self, check=False, diff=False, **args):
        args.setdefault("namespace", self.namespace)
        return self.module("flux_reconcile", args, check=check, diff=diff)

    def kubectl_json(self, *args):
        proc = self.kube.kubectl(*args, "-o", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def get(self, kind, name, namespace=None):
        return self.kubectl_json("get", kind, name, "-n", namespace or self.namespace)

    def apply(self, *objects):
        proc = self.kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": list(objects)}))
        assert proc.returncode == 0, proc.stderr

    def annotate(self, kind, name, *pairs):
        proc = self.kube.kubectl("annotate", "--overwrite", kind, name, "-n", self.namespace, *pairs)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def flux(kube, flux_double, fluxtest_repo):
    namespace = "fluxtest-%s" % uuid.uuid4().hex[:6]
    assert kube.kubectl("create", "namespace", namespace).returncode == 0
    try:
        yield Flux(kube, namespace, fluxtest_repo)
    finally:
        kube.kubectl("delete", "namespace", namespace, "--wait=false")
