"""Shared fixtures. ``kube``: the local Kubernetes control plane (tools/localcluster) for ``cluster`` tests.

The session brings a cluster up in a test state dir (``$SUPERTODO_TEST_CLUSTER_DIR``, default: the checkout's
state dir with the suffix ``-tests``), reuses one already running there, and at the end tears down only a
cluster it started itself, unless ``SUPERTODO_KEEP_CLUSTER=1`` or another test session still uses it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from localkube import paths
from localkube.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]


def cluster_state_dir() -> Path:
    override = os.environ.get("SUPERTODO_TEST_CLUSTER_DIR")
    if override:
        return Path(override).expanduser().resolve()
    base = paths.default_state_dir(REPO)
    return base.parent / (base.name + "-tests")


def tool_env(kubeconfig=None, git_url=None) -> dict:
    """os.environ plus the project's tools on PATH (as tools/env.sh sets them), KUBECONFIG and SUPERTODO_GIT_URL
    (the local cluster's Git server, as ``tools/localcluster env`` prints them)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), str(paths.tools_bin()), str(REPO / "tools"),
                                   env.get("PATH", "")])
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    env.setdefault("SUPERTODO_SCHEMA_DIR", str(paths.schema_dir()))
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
        env["K8S_AUTH_KUBECONFIG"] = str(kubeconfig)
    if git_url:
        env["SUPERTODO_GIT_URL"] = git_url
    return env


class Kube:
    """What cluster tests get: ``.kubeconfig`` (str), ``.git_url`` (the cluster's Git server: its repository
    ``super-todo.git``), ``.env`` (dict), ``.state_dir`` (Path), ``.kubectl()``,
    ``.cluster`` (the :class:`localkube.cluster.Cluster`, e.g. ``.cluster.rest()`` for raw API calls)."""

    def __init__(self, cluster: Cluster, up_result: dict):
        self.cluster = cluster
        self.state_dir = cluster.state
        self.kubeconfig = str(cluster.kubeconfig)
        self.git_url = cluster.git_url()
        # the inventories' supertodo_git_url: the cluster's Git server, which the Flux double fetches
        self.env = tool_env(self.kubeconfig, self.git_url)
        self.up_result = up_result

    def kubectl(self, *args, timeout=120, input=None) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", *[str(a) for a in args]], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input, check=False)


@pytest.fixture(scope="session")
def kube():
    state = cluster_state_dir()
    state.parent.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(state_dir=state)
    # Every session using this state dir holds a shared lock; only the last one may tear down.
    users = (state.parent / (state.name + ".users")).open("w")
    fcntl.flock(users, fcntl.LOCK_SH)
    try:
        result = cluster.up()
        yield Kube(cluster, result)
    finally:
        fcntl.flock(users, fcntl.LOCK_UN)
        started_here = "result" in locals() and not result.get("reused")
        if started_here and os.environ.get("SUPERTODO_KEEP_CLUSTER") != "1":
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another session still uses the cluster: leave it running
            else:
                cluster.down()
        users.close()
