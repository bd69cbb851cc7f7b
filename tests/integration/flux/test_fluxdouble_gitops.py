"""The Flux double reads Git like Flux, on the local cluster (real kube-apiserver, the loopback Git server, real
git, kustomize and helm): GitRepository revisions of pushed commits, Kustomizations applied server-side with an
inventory, pruning, dependsOn, the two-owners failure, and HelmCharts read from the artifact."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from services.gitserver import init_bare

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]

KS = "kustomizations.kustomize.toolkit.fluxcd.io"
GR = "gitrepositories.source.toolkit.fluxcd.io"
HR = "helmreleases.helm.toolkit.fluxcd.io"
CHART = """apiVersion: v2
name: gitonly
version: 0.2.0
"""
CHART_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-from-git
data:
  answer: {{ .Values.answer | quote }}
"""
CHART_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def configmap(namespace, name, **data):
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata: %s\n" % (
        name, namespace, json.dumps(data))


class Repo:
    """A working copy pushing to a fresh repository on the cluster's Git server."""

    def __init__(self, kube, tmp):
        name = "double-%s.git" % uuid.uuid4().hex[:6]
        init_bare(str(Path(kube.cluster.git_dir()) / name))
        self.url = kube.git_url.rsplit("/", 1)[0] + "/" + name
        self.work = tmp
        self.git("init", "-q", "-b", "main")

    def git(self, *args):
        out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=str(self.work),
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, "git %s: %s" % (" ".join(args), out.stderr)
        return out.stdout.strip()

    def write(self, rel, text):
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def push(self, message):
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        self.git("push", "-q", self.url, "main")
        return self.git("rev-parse", "HEAD")


class Cluster:
    def __init__(self, kube, namespace):
        self.kube = kube
        self.ns = namespace

    def apply(self, *objects):
        proc = self.kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                       "items": list(objects)}))
        assert proc.returncode == 0, proc.stderr

    def get(self, kind, name, namespace=None, fields=False):
        args = ["get", kind, name, "-n", namespace or self.ns, "-o", "json", "--ignore-not-found"]
        proc = self.kube.kubectl(*args, *(["--show-managed-fields"] if fields else []))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def request(self, kind, name):
        """What ``flux reconcile`` does: set reconcile.fluxcd.io/requestedAt; returns the token."""
        token = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        proc = self.kube.kubectl("annotate", "--overwrite", kind, name, "-n", self.ns,
                                 "reconcile.fluxcd.io/requestedAt=%s" % token)
        assert proc.returncode == 0, proc.stderr
        return token

    def wait(self, kind, name, predicate, timeout=90, what="condition"):
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            obj = self.get(kind, name)
            if obj is not None and predicate(obj):
                return obj
            time.sleep(0.3)
        raise AssertionError("%s %s/%s: %s not met after %ss; last: %s" % (
            kind, self.ns, name, what, timeout, json.dumps((obj or {}).get("status"), indent=1)[:3000]))

    def ready(self, kind, name, token=None, timeout=90):
        def ok(obj):
            st = obj.get("status") or {}
            if token and st.get("lastHandledReconcileAt") != token:
                return False
            return st.get("observedGeneration") == obj["metadata"]["generation"] and condition(obj) == "True"
        return self.wait(kind, name, ok, timeout, "Ready")

    def failed(self, kind, name, token=None, timeout=90):
        def bad(obj):
            st = obj.get("status") or {}
            if token and st.get("lastHandledReconcileAt") != token:
                return False
            return condition(obj) == "False"
        return self.wait(kind, name, bad, timeout, "Ready=False")


def condition(obj, ctype="Ready", field="status"):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return c.get(field)
    return None


def kustomization(namespace, name, path, depends_on=(), **spec):
    body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict({"interval": "10m", "path": path, "prune": True,
                          "sourceRef": {"kind": "GitRepository", "name": "repo"}}, **spec)}
    if depends_on:
        body["spec"]["dependsOn"] = [{"name": d} for d in depends_on]
    return body


@pytest.fixture(scope="module")
def env(kube, flux_double, tmp_path_factory):
    namespace = "fluxks-%s" % uuid.uuid4().hex[:6]
    assert kube.kubectl("create", "namespace", namespace).returncode == 0
    repo = Repo(kube, tmp_path_factory.mktemp("ksrepo"))
    repo.write("a/cm1.yaml", configmap(namespace, "cm1", v="one"))
    repo.write("a/cm2.yaml", configmap(namespace, "cm2", v="two"))
    repo.write("b/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                       "resources: [cm3.yaml]\n")
    repo.write("b/cm3.yaml", configmap(namespace, "cm3", v="three"))
    repo.write("charts/gitonly/Chart.yaml", CHART)
    repo.write("charts/gitonly/values.schema.json", json.dumps(CHART_SCHEMA))
    repo.write("charts/gitonly/templates/cm.yaml", CHART_TEMPLATE)
    first = repo.push("first")
    c = Cluster(kube, namespace)
    c.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "repo", "namespace": namespace},
             "spec": {"interval": "10m", "url": repo.url, "ref": {"branch": "main"}}})
    try:
        yield {"c": c, "repo": repo, "first": first, "ns": namespace}
    finally:
        kube.kubectl("delete", "namespace", namespace, "--wait=false")


def test_gitrepository_revision_is_the_pushed_commit(env):
    gr = env["c"].ready(GR, "repo")
    art = gr["status"]["artifact"]
    assert art["revision"] == "main@sha1:%s" % env["first"]
    assert art["digest"].startswith("sha256:") and art["path"].endswith("%s.tar.gz" % env["first"])
    assert condition(gr, field="message") == "stored artifact for revision 'main@sha1:%s'" % env["first"]


def test_unreachable_url_fails_like_source_controller(env):
    c = env["c"]
    c.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "nowhere", "namespace": env["ns"]},
             "spec": {"interval": "10m", "url": env["repo"].url.replace("double-", "absent-"),
                      "ref": {"branch": "main"}}})
    gr = c.failed(GR, "nowhere")
    assert condition(gr, field="reason") == "GitOperationFailed"
    assert "unable to clone '%s'" % gr["spec"]["url"] in condition(gr, field="message")


def test_dependson_waits_then_kustomization_applies_with_inventory(env):
    c, ns = env["c"], env["ns"]
    c.apply(kustomization(ns, "ks-b", "./b", depends_on=["ks-a"]))
    ks_b = c.failed(KS, "ks-b")
    assert condition(ks_b, field="reason") == "DependencyNotReady"
    assert condition(ks_b, field="message") == "dependency '%s/ks-a' not found" % ns
    assert c.get("configmap", "cm3") is None                    # nothing applied before its dependency is Ready
    c.apply(kustomization(ns, "ks-a", "./a"))
    ks_a = c.ready(KS, "ks-a")
    revision = "main@sha1:%s" % env["first"]
    assert ks_a["status"]["lastAppliedRevision"] == revision
    assert condition(ks_a, field="message") == "Applied revision: %s" % revision
    assert sorted(e["id"] for e in ks_a["status"]["inventory"]["entries"]) == [
        "%s_cm1__ConfigMap" % ns, "%s_cm2__ConfigMap" % ns]
    cm1 = c.get("configmap", "cm1", fields=True)
    assert cm1["metadata"]["labels"] == {"kustomize.toolkit.fluxcd.io/name": "ks-a",
                                         "kustomize.toolkit.fluxcd.io/namespace": ns}
    assert [m["manager"] for m in cm1["metadata"]["managedFields"] if m["operation"] == "Apply"] == [
        "kustomize-controller"]
    ks_b = c.ready(KS, "ks-b", timeout=60)
    assert c.get("configmap", "cm3")["data"] == {"v": "three"}
    assert ks_b["status"]["inventory"]["entries"] == [{"id": "%s_cm3__ConfigMap" % ns, "v": "v1"}]


def test_new_commit_is_applied_and_what_left_is_pruned(env):
    c, ns, repo = env["c"], env["ns"], env["repo"]
    c.ready(KS, "ks-a")
    repo.write("a/cm1.yaml", configmap(ns, "cm1", v="uno"))
    (repo.work / "a" / "cm2.yaml").unlink()
    second = repo.push("second")
    token = c.request(GR, "repo")
    c.ready(GR, "repo", token=token)
    token = c.request(KS, "ks-a")
    ks_a = c.ready(KS, "ks-a", token=token)
    assert ks_a["status"]["lastAppliedRevision"] == "main@sha1:%s" % second
    assert [e["id"] for e in ks_a["status"]["inventory"]["entries"]] == ["%s_cm1__ConfigMap" % ns]
    assert c.get("configmap", "cm1")["data"] == {"v": "uno"}
    deadline = time.monotonic() + 30
    while c.get("configmap", "cm2") is not None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert c.get("configmap", "cm2") is None


def test_an_object_of_another_kustomization_is_a_failure_naming_both(env):
    c, ns = env["c"], env["ns"]
    c.ready(KS, "ks-a")
    c.apply(kustomization(ns, "ks-twin", "./a"))
    twin = c.failed(KS, "ks-twin")
    assert condition(twin, field="reason") == "ReconciliationFailed"
    assert condition(twin, field="message") == (
        "ConfigMap/%s/cm1 is already managed by Kustomization %s/ks-a; Kustomization %s/ks-twin also applies it "
        "(two owners of one object)" % (ns, ns, ns))
    assert c.get("configmap", "cm1")["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "ks-a"


def test_missing_path_and_build_errors_are_reported(env):
    c, ns = env["c"], env["ns"]
    c.apply(kustomization(ns, "ks-nopath", "./nope"))
    ks = c.failed(KS, "ks-nopath")
    assert condition(ks, field="reason") == "ArtifactFailed"
    assert condition(ks, field="message").startswith("kustomization path not found")


def test_helmchart_reads_the_chart_from_the_artifact_and_wait_names_a_failing_release(env):
    """The chart exists only in the pushed repository (not in this checkout); a Kustomization with wait: true
    fails naming the HelmRelease whose values the chart's schema refuses."""
    c, ns, repo = env["c"], env["ns"], env["repo"]
    assert not (REPO / "charts" / "gitonly").exists()
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "gitonly", "namespace": ns},
               "spec": {"interval": "10m", "timeout": "1m",
                        "chart": {"spec": {"chart": "./charts/gitonly", "reconcileStrategy": "Revision",
                                           "sourceRef": {"kind": "GitRepository", "name": "repo"}}},
                        "values": {"answer": "42"}}}
    repo.write("rel/release.yaml", yaml.safe_dump(release))
    sha = repo.push("a release")
    c.ready(GR, "repo", token=c.request(GR, "repo"))
    c.apply(kustomization(ns, "ks-rel", "./rel", wait=True, timeout="1m"))
    ks = c.ready(KS, "ks-rel", timeout=120)
    assert ks["status"]["lastAppliedRevision"] == "main@sha1:%s" % sha
    hr = c.ready(HR, "gitonly")
    assert hr["status"]["history"][0]["chartVersion"] == "0.2.0+%s" % sha[:12]
    assert c.get("configmap", "gitonly-from-git")["data"] == {"answer": "42"}
    release["spec"]["values"] = {"answer": 42}                    # the schema wants a string
    repo.write("rel/release.yaml", yaml.safe_dump(release))
    bad = repo.push("bad values")
    c.ready(GR, "repo", token=c.request(GR, "repo"))
    ks = c.failed(KS, "ks-rel", token=c.request(KS, "ks-rel"), timeout=120)
    assert condition(ks, field="reason") == "HealthCheckFailed"
    assert "HelmRelease/%s/gitonly status: 'Failed'" % ns in condition(ks, field="message")
    assert ks["status"]["lastAttemptedRevision"] == "main@sha1:%s" % bad
    assert ks["status"]["lastAppliedRevision"] == "main@sha1:%s" % sha
    hr = c.get(HR, "gitonly")
    assert condition(hr, field="reason") == "UpgradeFailed"
    assert "values don't meet the specifications of the schema" in condition(hr, field="message")
    assert c.get("configmap", "gitonly-from-git")["data"] == {"answer": "42"}     # the previous release stays
