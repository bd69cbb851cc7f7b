# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving staging between delivery modes on a bootstrapped local cluster of its own (real kube-apiserver, the
loopback Git server, the Flux double reading Git): apply mode -> GitOps (playbooks/gitops.yml) -> apply mode
(playbooks/gitops.yml -e delivery_gitops_remove=true, then playbooks/site.yml, which names the fields
kustomize-controller applied with other values and takes them over with delivery_force_conflicts). Nothing is deleted on the way (the
same uids), and afterwards every object has one owner: apply mode refuses while Flux Kustomizations of the
environment exist, and no Kustomization keeps an object of the environment after the move back. The bootstrap's
GitRepository is never written by the collection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from localkube import paths
from localkube.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
FLUX_NS = "flux-system"
KS = "kustomizations.kustomize.toolkit.fluxcd.io"
GR = "gitrepositories.source.toolkit.fluxcd.io"
HR = "helmreleases.helm.toolkit.fluxcd.io"
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)
STAGING_KS = ["super-todo-staging-namespaces", "super-todo-staging-postgres", "super-todo-staging-redis",
              "super-todo-staging"]


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.cluster = Cluster(state_dir=tmp / "cluster")

    def start(self):
        self.result = self.cluster.up()
        self.url = self.cluster.git_url()
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("SUPERTODO_") and k != "SUPERTODO_SCHEMA_DIR"]:
            env.pop(key)
        env.pop("K8S_AUTH_HOST", None)
        env["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), str(paths.tools_bin()), str(REPO / "tools"),
                                       env.get("PATH", "")])
        env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                    "KUBECONFIG": str(self.cluster.kubeconfig), "K8S_AUTH_KUBECONFIG": str(self.cluster.kubeconfig),
                    "SUPERTODO_GIT_URL": self.url, "SUPERTODO_VERIFY_REPORT_DIR": str(self.tmp / "reports")})
        env.setdefault("SUPERTODO_SCHEMA_DIR", str(paths.schema_dir()))
        self.env = env
        return self

    def run(self, *args, input=None, cwd=None):
        return subprocess.run([str(a) for a in args], env=self.env, capture_output=True, text=True, timeout=1500,
                              input=input, cwd=str(cwd or REPO), check=False)

    def get(self, kind, name, namespace):
        proc = self.run("kubectl", "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found",
                        "--show-managed-fields")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def playbook(self, name, *args):
        return self.run("ansible-playbook", "-i", "inventories/staging", "playbooks/%s" % name, *OLD_CLUSTER, *args)

    def report(self):
        return json.loads((self.tmp / "reports" / "staging.json").read_text())

    def bootstrap(self):
        """What `flux bootstrap git --path=flux-cd/clusters/my-cluster` leaves (localkube's bootstrap): the sync
        manifests in Git, applied."""
        self.cluster.bootstrap()


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    return proc


def uids(e):
    out = {}
    for kind, name, ns in (("namespace", "staging", ""), (HR, "super-todo", "staging"), (HR, "postgres-staging", "staging"),
                           (HR, "redis-staging", "staging"), ("deployment", "super-todo", "staging"),
                           ("networkpolicy", "allow-same-namespace", "staging")):
        obj = e.get(kind, name, ns or "default") if ns else json.loads(ok(e.run("kubectl", "get", kind, name, "-o",
                                                                                "json")).stdout)
        out[(kind, name)] = obj["metadata"]["uid"] if obj else None
    return out


@pytest.fixture(scope="module")
def e():
    tmp = Path(tempfile.mkdtemp(prefix="supertodo-modes-"))
    env = Env(tmp).start()
    try:
        env.bootstrap()
        yield env
    finally:
        if os.environ.get("SUPERTODO_KEEP_CLUSTER") != "1":
            env.cluster.down()
            shutil.rmtree(tmp, ignore_errors=True)


def test_apply_to_gitops_and_back_deletes_nothing_and_leaves_one_owner(e):
    gitrepo_before = e.get(GR, "flux-system", FLUX_NS)

    # 1. apply mode: the collection applies everything, the chart from a GitRepository of its own
    ok(e.playbook("site.yml"))
    applied = uids(e)
    assert all(applied.values()), applied
    assert e.get(GR, "super-todo", "staging") is not None
    assert not [k for k in STAGING_KS if e.get(KS, k, FLUX_NS)]

    # 2. apply -> GitOps: the GitOps playbook; Flux takes the same objects over
    ok(e.playbook("gitops.yml"))
    assert uids(e) == applied
    for name in STAGING_KS:
        ks = e.get(KS, name, FLUX_NS)
        ready = [c for c in ((ks or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", (name, ks and ks.get("status"))
    hr = e.get(HR, "super-todo", "staging")
    assert hr["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "super-todo-staging"
    assert hr["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system",
                                                        "namespace": FLUX_NS}
    assert hr["spec"]["dependsOn"] == [{"name": "postgres-staging"}, {"name": "redis-staging"}]
    assert e.get(GR, "super-todo", "staging") is None   # apply mode's chart source is gone
    report = e.report()
    assert report["delivery"]["applied_by"] == "Flux Kustomization flux-system/super-todo-staging", report["delivery"]
    assert not [w for w in report["warnings"] if "supertodo_delivery_mode" in w], report["warnings"]

    # apply mode now refuses: two owners otherwise
    refused = e.playbook("site.yml")
    assert refused.returncode != 0
    assert "staging is delivered by Flux: Kustomization(s) flux-system/super-todo-staging" in \
        " ".join(refused.stdout.split()), refused.stdout[-3000:]

    # 3. GitOps -> apply: out of Git with nothing deleted, then apply mode
    ok(e.playbook("gitops.yml", "-e", "delivery_gitops_remove=true"))
    assert not [k for k in STAGING_KS if e.get(KS, k, FLUX_NS)]
    assert uids(e) == applied
    # the fields kustomize-controller applied with other values (the chart's source) are named, not taken
    conflict = e.playbook("site.yml")
    assert conflict.returncode != 0
    text = " ".join(conflict.stdout.split())
    assert "HelmRelease staging/super-todo: .spec.chart.spec.sourceRef" in text and "owned by kustomize-controller" in text, \
        conflict.stdout[-3000:]
    assert uids(e) == applied
    # taking them over is explicit, and says what it took
    moved = ok(e.playbook("site.yml", "-e", "delivery_force_conflicts=true"))
    assert "from kustomize-controller" in moved.stdout
    assert uids(e) == applied
    hr = e.get(HR, "super-todo", "staging")
    assert hr["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "super-todo",
                                                        "namespace": "staging"}
    assert e.report()["delivery"]["applied_by"] == "the collection (apply mode)"
    # no Kustomization lists an object of staging any more
    listed = [entry["id"] for ks in json.loads(ok(e.run("kubectl", "get", KS, "-A", "-o", "json")).stdout)["items"]
              for entry in ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []]
    assert not [i for i in listed if i.startswith("staging_") or i.startswith("_staging_")], listed
    # the bootstrap's GitRepository was never written by the collection
    gitrepo_after = e.get(GR, "flux-system", FLUX_NS)
    assert gitrepo_after["spec"] == gitrepo_before["spec"]
    assert not [m for m in gitrepo_after["metadata"]["managedFields"] if m["manager"] == "supertodo.platform"]
