"""GitOps end to end on a local cluster of its own (real kube-apiserver, the loopback Git server, real git,
kustomize and helm, the Flux double reading Git): what ``flux bootstrap`` does, the GitOps playbook for staging and
production, inventory changes reaching the cluster at the new revision, pruning, a bad commit refused while the
previous release keeps running, and an apply-mode converge that leaves the bootstrap GitRepository alone.

The steps build on each other and run in file order (one module-scoped cluster)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from localkube import paths
from localkube.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = "playbooks/gitops.yml"
FLUX_NS = "flux-system"
TREE = "flux-cd"
CLUSTER_PATH = "%s/clusters/my-cluster" % TREE
# The local cluster serves Kubernetes 1.20: CronJob is batch/v1beta1 there (docs/data-tier.md).
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)
KS = "kustomizations.kustomize.toolkit.fluxcd.io"
GR = "gitrepositories.source.toolkit.fluxcd.io"
HR = "helmreleases.helm.toolkit.fluxcd.io"


def env_kustomizations(env):
    return ["super-todo-%s-namespaces" % env, "super-todo-sources", "super-todo-%s-postgres" % env,
            "super-todo-%s-redis" % env, "super-todo-%s" % env]


def tool_env(kubeconfig, git_url):
    """os.environ with the project's tools first on PATH (as tools/env.sh), KUBECONFIG and the Git URL."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), str(paths.tools_bin()), str(REPO / "tools"),
                                   env.get("PATH", "")])
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    env.setdefault("SUPERTODO_SCHEMA_DIR", str(paths.schema_dir()))
    for key in [k for k in env if k.startswith("SUPERTODO_") and k != "SUPERTODO_SCHEMA_DIR"]:
        env.pop(key)
    env.update({"KUBECONFIG": str(kubeconfig), "K8S_AUTH_KUBECONFIG": str(kubeconfig), "SUPERTODO_GIT_URL": git_url})
    return env


class GitOpsCluster:
    def __init__(self, state, tmp):
        self.cluster = Cluster(state_dir=state)
        self.tmp = tmp
        self.kubeconfig = str(self.cluster.kubeconfig)
        self.inventories = tmp / "inventories"
        self.reports = tmp / "reports"
        self.work = tmp / "work"

    def start(self):
        self.result = self.cluster.up()
        self.url = self.cluster.git_url()
        self.env = tool_env(self.kubeconfig, self.url)
        self.env.update({"ANSIBLE_NOCOLOR": "1", "SUPERTODO_VERIFY_REPORT_DIR": str(self.reports)})
        self.env.pop("K8S_AUTH_HOST", None)
        out = subprocess.run([str(REPO / "tools" / "local-secrets"), "production"], env=self.env,
                             capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            name, dummy, value = line.replace("export ", "", 1).partition("=")
            self.env[name] = value.strip("'\"")
        # the inventories as a user keeps them, copied so that the test can change figures in them
        shutil.copytree(REPO / "inventories", self.inventories, symlinks=True)
        return self

    def kubectl(self, *args, input=None, timeout=120):
        return subprocess.run(["kubectl", *[str(a) for a in args]], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input, check=False)

    def get(self, kind, name, namespace, fields=False):
        proc = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found",
                            *(["--show-managed-fields"] if fields else []))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def git(self, *args, cwd=None):
        out = subprocess.run(["git", "-c", "user.name=e2e", "-c", "user.email=e2e@localhost", *args],
                             cwd=str(cwd or self.work), capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, "git %s: %s" % (" ".join(args), out.stderr)
        return out.stdout.strip()

    def remote_head(self):
        return self.git("ls-remote", self.url, "refs/heads/main", cwd=self.tmp).split()[0]

    def playbook(self, env, playbook=PLAYBOOK, *args):
        t0 = time.monotonic()
        proc = subprocess.run(["ansible-playbook", "-i", str(self.inventories / env), playbook, *OLD_CLUSTER, *args],
                              cwd=str(REPO), env=self.env, capture_output=True, text=True, timeout=1500,
                              check=False)
        proc.elapsed = time.monotonic() - t0
        transcript = os.environ.get("SUPERTODO_GITOPS_TRANSCRIPT")
        if transcript:          # the output of every run, e.g. for the walk-through in docs/gitops.md
            with open(transcript, "a") as fh:
                fh.write("\n$ ansible-playbook -i inventories/%s %s %s\n# rc=%d, %.1f s\n%s%s" % (
                    env, playbook, " ".join(args), proc.returncode, proc.elapsed, proc.stdout, proc.stderr))
        return proc

    def note(self, *kubectl_args):
        """Append ``kubectl <args>`` and its output to the transcript (when one is asked for)."""
        transcript = os.environ.get("SUPERTODO_GITOPS_TRANSCRIPT")
        if transcript:
            out = self.kubectl(*kubectl_args)
            with open(transcript, "a") as fh:
                fh.write("\n$ kubectl %s\n%s%s" % (" ".join(kubectl_args), out.stdout, out.stderr))

    def set_figure(self, env, filename, name, value):
        """Change one variable in an inventory file (the way a user edits group_vars)."""
        path = self.inventories / env / "group_vars" / env / filename
        text = path.read_text()
        lines = [("%s: %s" % (name, value)) if line.startswith(name + ":") else line for line in text.splitlines()]
        assert lines != text.splitlines(), "%s not in %s" % (name, path)
        path.write_text("\n".join(lines) + "\n")

    def wait(self, what, predicate, timeout=180):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.5)
        raise AssertionError("%s not reached after %ss" % (what, timeout))

    def report(self, env):
        return json.loads((self.reports / ("%s.json" % env)).read_text())


def ready(obj):
    st = (obj or {}).get("status") or {}
    return st.get("observedGeneration") == (obj or {}).get("metadata", {}).get("generation") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])


def applied(obj, commit):
    """The Kustomization when it is Ready with ``commit`` applied, else None."""
    if ready(obj) and obj["status"].get("lastAppliedRevision") == "main@sha1:%s" % commit:
        return obj
    return None


def message(obj):
    return next((c.get("message", "") for c in ((obj or {}).get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), "")


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def gc():
    given = os.environ.get("SUPERTODO_GITOPS_CLUSTER_DIR")
    tmp = Path(tempfile.mkdtemp(prefix="supertodo-gitops-"))
    state = Path(given) if given else tmp / "cluster"
    if not (REPO / PLAYBOOK).is_file():
        pytest.fail("%s does not exist: the GitOps delivery playbook is what this test drives" % PLAYBOOK)
    cluster = GitOpsCluster(state, tmp).start()
    try:
        yield cluster
    finally:
        if not cluster.result.get("reused") and os.environ.get("SUPERTODO_KEEP_CLUSTER") != "1":
            cluster.cluster.down()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def bootstrapped(gc):
    """What `flux bootstrap git --path=flux-cd/clusters/my-cluster` does (``localcluster bootstrap``): the sync
    manifests committed under the cluster path, GitRepository and Kustomization flux-system applied."""
    result = gc.cluster.bootstrap(path=CLUSTER_PATH, branch="main")
    assert result["pushed"] is True
    gc.git("clone", "-q", gc.url, str(gc.work), cwd=gc.tmp)
    head = result["commit"]
    ks = gc.wait("Kustomization flux-system Ready at %s" % head, lambda: applied(gc.get(KS, "flux-system", FLUX_NS),
                                                                                 head))
    gc.note("get", "gitrepositories,kustomizations", "-n", FLUX_NS)
    return {"head": head, "ks": ks}


def test_bootstrap_syncs_the_cluster_path(gc, bootstrapped):
    ids = sorted(e["id"] for e in bootstrapped["ks"]["status"]["inventory"]["entries"])
    assert ids == ["flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization",
                   "flux-system_flux-system_source.toolkit.fluxcd.io_GitRepository"]
    gr = gc.get(GR, "flux-system", FLUX_NS)
    assert gr["status"]["artifact"]["revision"] == "main@sha1:%s" % bootstrapped["head"]


@pytest.fixture(scope="module")
def deployed(gc, bootstrapped):
    runs = {env: ok(gc.playbook(env)) for env in ("staging", "production")}
    gc.note("get", "gitrepositories,kustomizations", "-n", FLUX_NS)
    gc.note("get", "helmreleases", "-A")
    return runs


@pytest.mark.parametrize("env", ["staging", "production"])
def test_gitops_playbook_makes_the_environment_ready_from_git(gc, deployed, env):
    head = gc.remote_head()
    assert head != gc.git("rev-parse", "HEAD")       # the playbook pushed commits of its own
    for name in env_kustomizations(env):
        ks = gc.get(KS, name, FLUX_NS)
        assert ready(ks), "%s: %s" % (name, message(ks))
        assert ks["status"]["lastAppliedRevision"].startswith("main@sha1:")
    # every Kustomization of the source follows its newest revision (the other environment's push included)
    gc.wait("Kustomization super-todo-%s at %s" % (env, head), lambda: gc.get(KS, "super-todo-%s" % env, FLUX_NS)[
        "status"].get("lastAppliedRevision") == "main@sha1:%s" % head, timeout=120)
    hr = gc.get(HR, "super-todo", env, fields=True)
    assert ready(hr), message(hr)
    # the app HelmRelease came from Git: applied by kustomize-controller, owned by the app Kustomization
    assert hr["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "super-todo-%s" % env
    managers = {m["manager"] for m in hr["metadata"]["managedFields"]}
    assert "kustomize-controller" in managers and "supertodo.platform" not in managers, managers
    report = gc.report(env)
    assert report["drift"] == [] and report["ready"] is True, (report["drift"], report["problems"])
    # the bootstrap's own objects are still there and still synced (the tree did not prune them)
    assert ready(gc.get(KS, "flux-system", FLUX_NS)) and gc.get(GR, "flux-system", FLUX_NS) is not None


def test_every_object_has_one_owner(gc, deployed):
    owners = {}
    for env in ("staging", "production"):
        for name in env_kustomizations(env):
            for entry in gc.get(KS, name, FLUX_NS)["status"]["inventory"]["entries"]:
                owners.setdefault(entry["id"], set()).add(name)
    twice = {k: v for k, v in owners.items() if len(v) > 1}
    assert not twice, twice


@pytest.fixture(scope="module")
def changed(gc, deployed):
    gc.set_figure("staging", "super_todo.yml", "super_todo_replicas", 2)
    gc.set_figure("production", "super_todo.yml", "super_todo_log_level", "INFO")
    return {env: ok(gc.playbook(env)) for env in ("staging", "production")}


def test_inventory_change_is_live_at_the_new_revision(gc, changed):
    head = gc.remote_head()
    for env in ("staging", "production"):
        name = "super-todo-%s" % env
        gc.wait("Kustomization %s Ready at %s" % (name, head), lambda: applied(gc.get(KS, name, FLUX_NS), head),
                timeout=120)
    deploy = gc.get("deployment", "super-todo", "staging")
    assert deploy["spec"]["replicas"] == 2
    gc.note("get", "kustomizations", "-n", FLUX_NS)
    gc.wait("staging Deployment with 2 available replicas",
            lambda: (gc.get("deployment", "super-todo", "staging").get("status") or {}).get("availableReplicas") == 2)
    hr = gc.get(HR, "super-todo", "production")
    assert ready(hr)
    assert "INFO" in json.dumps(hr["spec"]["values"])
    assert gc.report("staging")["drift"] == [] and gc.report("production")["drift"] == []


def _owned(gc, env):
    """Every object the environment's Kustomizations and app release hold in their inventories."""
    ids = set()
    for name in env_kustomizations(env):
        ids |= {e["id"] for e in gc.get(KS, name, FLUX_NS)["status"]["inventory"]["entries"]}
    hr = gc.get(HR, "super-todo", env)
    ids |= {e["id"] for e in ((hr.get("status") or {}).get("inventory") or {}).get("entries") or []}
    return ids


def test_object_dropped_from_the_inventory_is_pruned(gc, changed):
    before = _owned(gc, "production")
    gc.set_figure("production", "super_todo.yml", "super_todo_monitoring_enabled", "false")
    ok(gc.playbook("production"))
    after = _owned(gc, "production")
    gone = before - after
    assert gone, "turning monitoring off removed nothing from the inventories"
    for entry_id in gone:
        ns, name, group, kind = entry_id.split("_", 3)
        args = ["get", "%s%s" % (kind.lower(), "." + group if group else ""), name, "--ignore-not-found", "-o",
                "name"] + (["-n", ns] if ns else [])
        gc.wait("%s pruned" % entry_id, lambda: gc.kubectl(*args).stdout.strip() == "", timeout=60)


def _flux_reconcile(gc, **args):
    env = dict(gc.env, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run(["ansible", "localhost", "-m", "supertodo.platform.flux_reconcile", "-a", json.dumps(args)],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=900, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_bad_commit_fails_naming_the_release_while_the_previous_one_runs(gc, changed):
    gc.git("fetch", "-q", "origin")
    gc.git("reset", "-q", "--hard", "origin/main")
    folder = gc.work / TREE / "apps" / "super-todo" / "staging"
    target = None
    for path in sorted(folder.glob("*.yaml")):
        docs = list(yaml.safe_load_all(path.read_text()))
        if any(isinstance(d, dict) and d.get("kind") == "HelmRelease" for d in docs):
            target = path
            for d in docs:
                if isinstance(d, dict) and d.get("kind") == "HelmRelease":
                    d["spec"]["values"]["replicaCount"] = "three"          # the chart's schema wants an integer
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert target is not None, "no HelmRelease under %s" % folder
    before = gc.get("deployment", "super-todo", "staging")
    gc.git("commit", "-qam", "staging: replicaCount three")
    gc.git("push", "-q", "origin", "HEAD:main")
    bad = gc.git("rev-parse", "HEAD")
    _flux_reconcile(gc, kind="Kustomization", name="super-todo-staging", namespace=FLUX_NS, with_source=True,
                    timeout=120)
    hr_res = _flux_reconcile(gc, kind="HelmRelease", name="super-todo", namespace="staging", timeout=120)
    assert hr_res.get("failed") is True
    assert "staging/super-todo" in hr_res["msg"] and "replicaCount" in hr_res["msg"], hr_res["msg"]
    hr = gc.get(HR, "super-todo", "staging")
    gc.note("get", "helmreleases", "-n", "staging")
    assert "values don't meet the specifications of the schema" in message(hr), message(hr)
    ks = gc.get(KS, "super-todo-staging", FLUX_NS)
    assert ks["status"]["lastAttemptedRevision"] == "main@sha1:%s" % bad
    # the previous release keeps running: same Deployment generation, still available
    after = gc.get("deployment", "super-todo", "staging")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["status"].get("availableReplicas") == before["status"].get("availableReplicas") == 2
    # put the branch back: the next playbook run renders the inventory again
    gc.git("revert", "--no-edit", "HEAD")
    gc.git("push", "-q", "origin", "HEAD:main")
    ok(gc.playbook("staging", PLAYBOOK, "-e", "delivery_reconcile_always=true"))
    assert ready(gc.get(HR, "super-todo", "staging"))


def test_apply_mode_converge_leaves_the_bootstrap_gitrepository_unchanged(gc, changed):
    """Staging moves to apply mode as docs/gitops.md says (its Kustomizations removed from Git with pruning off),
    then an apply-mode converge (playbooks/site.yml) runs on the bootstrapped cluster: the bootstrap's GitRepository
    is byte for byte what it was before the converge, and the objects are the same (same uid)."""
    uid = gc.get("deployment", "super-todo", "staging")["metadata"]["uid"]
    ok(gc.playbook("staging", PLAYBOOK, "-e", "delivery_gitops_remove=true"))
    gc.wait("staging's Kustomizations gone", lambda: all(gc.get(KS, name, FLUX_NS) is None for name in (
        "super-todo-staging-namespaces", "super-todo-staging-postgres", "super-todo-staging-redis",
        "super-todo-staging")), timeout=120)
    before = gc.get(GR, "flux-system", FLUX_NS, fields=True)
    proc = ok(gc.playbook("staging", "playbooks/site.yml", "-e", "delivery_force_conflicts=true"))
    after = gc.get(GR, "flux-system", FLUX_NS, fields=True)
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True), proc.stdout[-3000:]
    assert gc.get("deployment", "super-todo", "staging")["metadata"]["uid"] == uid
    assert ready(gc.get(HR, "super-todo", "staging"))
    assert ready(gc.get(KS, "flux-system", FLUX_NS)) and ready(gc.get(KS, "super-todo-production", FLUX_NS))
