# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the reliability suite: a private local cluster (its own state dir) for the drills that stop its
components, so that the shared ``kube`` cluster of the other tests is never disturbed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from localkube.cluster import Cluster
from rel_helpers import ansible_env


class PrivateCluster:
    """A local cluster in its own state dir, brought up by the suite (not the shared ``kube`` fixture), so that its
    kube-apiserver can be stopped without disturbing other tests."""

    def __init__(self, state_dir):
        self.cluster = Cluster(state_dir=state_dir)
        self.kubeconfig = str(self.cluster.kubeconfig)
        self.env = ansible_env(self.kubeconfig)

    def kubectl(self, *args, timeout=120, input=None):
        return subprocess.run(["kubectl", *[str(a) for a in args]], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input, check=False)


@pytest.fixture(scope="session")
def private_cluster():
    """``$SUPERTODO_RELIABILITY_CLUSTER_DIR`` or a fresh temporary state dir; torn down at the end unless it was
    already running there or ``SUPERTODO_KEEP_CLUSTER=1``."""
    given = os.environ.get("SUPERTODO_RELIABILITY_CLUSTER_DIR")
    state = Path(given) if given else Path(tempfile.mkdtemp(prefix="supertodo-reliability-")) / "cluster"
    private = PrivateCluster(state)
    result = private.cluster.up()
    try:
        yield private
    finally:
        # a drill may have left the API server stopped: bring it back before deciding what to do
        private.cluster.start_component("kube-apiserver")
        if not result.get("reused") and os.environ.get("SUPERTODO_KEEP_CLUSTER") != "1":
            private.cluster.down()
            if not given:
                shutil.rmtree(state.parent, ignore_errors=True)
