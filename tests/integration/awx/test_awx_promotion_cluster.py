# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx/configure.yml and the promotion workflow end to end: the AWX API double (tools/awxdouble) on loopback, its
jobs run by ansible-runner on a checkout of the project, against the local cluster (kube-apiserver 1.20 + etcd,
kubelet and Flux doubles), reached only through the Kubernetes bearer-token credential (a ServiceAccount token).

The project AWX syncs is a Git repository made from this checkout's HEAD plus one commit with what the local
cluster needs (its Kubernetes version, staging running v1.1.0) and production's secrets in an ansible-vault file
the vault credential opens. The tests run in order and share the state: configure twice; production converged by
its job template; a promotion approved; one denied; one whose staging verify fails.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from .awxapi import AwxDouble

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = "Super-Todo promotion"
RECORD = "supertodo-promotions"
VAULT_PASSWORD = "Vt8qL2mN6xR4wK9pZ3sB7cJ1"
SECRETS = {
    "secrets_postgres_superuser_password": "Pv7qN2sL9xK4mW8rT3yB6cF1",
    "secrets_postgres_app_password": "Ap5jR8wQ2nV7kZ4xM9pL3sT6",
    "secrets_redis_password": "Rd4nM7qW2eR9tY5uI8oP3aS6",
    "secrets_backup_s3_access_key_id": "AKIAAWXTESTPRODUCTION",
    "secrets_backup_s3_secret_access_key": "Sk3mR9qW2xL7vN4pT8zB6cJ1hF5gD0aE",
}
CLUSTER_VARS = {}


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=awx-test", "-c", "user.email=awx@test.invalid",
                           *args], check=True, capture_output=True, text=True).stdout


def _commit(work, files, message):
    for rel, text in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(work, "add", *files)
    _git(work, "commit", "-qm", message)
    _git(work, "push", "-q", "origin", "HEAD:main")
    return _git(work, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def project(kube, tmp_path_factory):
    """A bare repository (the AWX project's scm_url) and a work tree to push commits to it."""
    tmp = tmp_path_factory.mktemp("awx-project")
    bare, work = tmp / "platform.git", tmp / "work"
    subprocess.run(["git", "clone", "-q", "--bare", str(REPO), str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
    _git(work, "checkout", "-q", "-B", "main")
    vault_src = tmp / "vault.yml"
    vault_src.write_text("".join("%s: %s\n" % kv for kv in SECRETS.items()))
    pw = tmp / "vault-pass"
    pw.write_text(VAULT_PASSWORD)
    subprocess.run([str(REPO / ".venv" / "bin" / "ansible-vault"), "encrypt", "--vault-password-file", str(pw),
                    "--output", str(work / "inventories/production/group_vars/production/vault.yml"),
                    str(vault_src)], check=True, capture_output=True, env=kube.env)
    pw.unlink()
    common = "".join("%s: %s\n" % kv for kv in CLUSTER_VARS.items())
    _commit(work, {
        "inventories/staging/group_vars/staging/zz_localcluster.yml":
            "---\n# the local test cluster (Kubernetes 1.20); zz_: read after super_todo.yml\n"
            "%ssuper_todo_image_tag: v1.1.0\n" % common,
        "inventories/production/group_vars/production/zz_localcluster.yml":
            "---\n# the local test cluster (Kubernetes 1.20); no backup archive to gate on here\n%s"
            "backups_endpoint_url: http://127.0.0.1:9\n"
            "promote_skip_backup_gate_reason: the local test cluster has no backup archive\n"
            "supertodo_overrides: [{name: allow_promote_without_restore_drill, reason: no archive to drill here}]\n"
            % common,
        "inventories/production/group_vars/production/vault.yml":
            (work / "inventories/production/group_vars/production/vault.yml").read_text(),
    }, "local cluster settings and production's vault")
    return {"bare": bare, "work": work}


@pytest.fixture(scope="module")
def sa_token(kube):
    """A ServiceAccount token with cluster-admin: what the Kubernetes bearer-token credential carries."""
    kube.kubectl("-n", "kube-system", "create", "serviceaccount", "awx-jobs")
    kube.kubectl("create", "clusterrolebinding", "awx-jobs", "--clusterrole=cluster-admin",
                 "--serviceaccount=kube-system:awx-jobs")
    deadline = time.monotonic() + 60
    while True:
        sa = json.loads(kube.kubectl("-n", "kube-system", "get", "sa", "awx-jobs", "-o", "json").stdout)
        if sa.get("secrets"):
            break
        assert time.monotonic() < deadline, "no token for ServiceAccount kube-system/awx-jobs"
        time.sleep(1)
    secret = json.loads(kube.kubectl("-n", "kube-system", "get", "secret", sa["secrets"][0]["name"],
                                     "-o", "json").stdout)
    yield base64.b64decode(secret["data"]["token"]).decode()
    kube.kubectl("delete", "clusterrolebinding", "awx-jobs", "--ignore-not-found")
    kube.kubectl("-n", "kube-system", "delete", "serviceaccount", "awx-jobs", "--ignore-not-found")


@pytest.fixture(scope="module")
def awx(kube, tmp_path_factory):
    # What every job runs with (the execution environment): the project's Python and tools, the schemas, the
    # cluster's Git server for Flux. No KUBECONFIG: the cluster is reached through the credential only.
    task_env = {"PATH": kube.env["PATH"], "SUPERTODO_SCHEMA_DIR": kube.env["SUPERTODO_SCHEMA_DIR"],
                "ANSIBLE_NOCOLOR": "1"}
    if kube.git_url:
        task_env["SUPERTODO_GIT_URL"] = kube.git_url
    double = AwxDouble(tmp_path_factory.mktemp("awx-state"), task_env).start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def configure_env(kube, awx, project, sa_token):
    env = dict(kube.env)
    for key in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG"):
        env.pop(key, None)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
        "CONTROLLER_HOST": awx.url, "CONTROLLER_OAUTH_TOKEN": awx.token,
        "SUPERTODO_AWX_SCM_URL": str(project["bare"]), "SUPERTODO_AWX_SCM_BRANCH": "main",
        "SUPERTODO_AWX_KUBE_HOST": kube.cluster.server(), "SUPERTODO_AWX_KUBE_TOKEN": sa_token,
        "SUPERTODO_AWX_KUBE_CA_CERT": Path(kube.cluster.pki.path("ca.crt")).read_text(),
        "SUPERTODO_AWX_VAULT_PASSWORD": VAULT_PASSWORD,
    })
    return env


def _configure(env):
    proc = subprocess.run(["ansible-playbook", "awx/configure.yml"], cwd=str(REPO), env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    recap = re.search(r"localhost\s*: ok=(\d+)\s+changed=(\d+)", proc.stdout)
    return proc, int(recap.group(2))


def _kget(kube, *args):
    proc = kube.kubectl(*args, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _production_tag(kube):
    return _kget(kube, "-n", "production", "get", "helmreleases.helm.toolkit.fluxcd.io", "super-todo")[
        "spec"]["values"]["image"]["tag"]


def _record(kube):
    proc = kube.kubectl("-n", "production", "get", "configmap", RECORD, "-o", "json")
    if proc.returncode != 0:
        return None, []
    data = json.loads(proc.stdout)["data"]
    return json.loads(data["last"]), json.loads(data["history"])


def _finished(body):
    return body["status"] in ("successful", "failed", "error", "canceled")


def _job_report(awx, nodes):
    out = []
    for ident, node in nodes.items():
        job = node["_job"]
        out.append("%s: %s" % (ident, job["status"] if job else ("do_not_run" if node["do_not_run"] else "-")))
        if job and job.get("type") == "job" and job["status"] != "successful":
            out.append(awx.stdout(job["id"])[-4000:])
    return "\n".join(out)


def _launch(awx, version):
    wfjt = awx.one("workflow_job_templates", name=WORKFLOW)
    status, body = awx.call("POST", "workflow_job_templates/%d/launch/" % wfjt["id"],
                            {"extra_vars": {"promote_version": version}})
    assert status == 201, body
    return body["workflow_job"]


def _wait_for_approval(awx, wj):
    """Wait until the workflow job stops at its approval node (or finishes); return the nodes."""
    deadline = time.monotonic() + 600
    while True:
        nodes = awx.workflow_nodes(wj)
        approval = nodes["approve-promotion"]["_job"]
        if approval is not None or _finished(awx.get("workflow_jobs/%d/" % wj)):
            return nodes
        assert time.monotonic() < deadline, _job_report(awx, nodes)
        time.sleep(2)


@pytest.fixture(scope="module")
def configured(awx, configure_env):
    first, changed = _configure(configure_env)
    return {"first": first, "changed": changed}


def test_configure_creates_every_object_with_its_references_and_a_second_run_changes_nothing(
        awx, configured, configure_env):
    assert configured["changed"] >= 10
    second, changed = _configure(configure_env)
    assert changed == 0, second.stdout[-6000:]
    for secret in (configure_env["SUPERTODO_AWX_KUBE_TOKEN"], VAULT_PASSWORD):
        assert secret not in configured["first"].stdout + second.stdout

    org = awx.one("organizations", name="Super-Todo")
    proj = awx.one("projects", name="supertodo.platform")
    assert proj["organization"] == org["id"] and proj["scm_url"] == configure_env["SUPERTODO_AWX_SCM_URL"]
    assert proj["scm_revision"] == _git(configure_env["SUPERTODO_AWX_SCM_URL"], "rev-parse", "main").strip()
    kube_cred = awx.one("credentials", name="Super-Todo Kubernetes")
    vault_cred = awx.one("credentials", name="Super-Todo vault")
    assert kube_cred["inputs"]["bearer_token"] == "$encrypted$" and kube_cred["kind"] == "kubernetes"
    assert vault_cred["inputs"] == {"vault_password": "$encrypted$"} and vault_cred["kind"] == "vault"
    inventories = {}
    for env in ("staging", "production"):
        inv = awx.one("inventories", name="Super-Todo %s" % env)
        src = awx.one("inventory_sources", inventory=inv["id"])
        assert inv["organization"] == org["id"]
        assert (src["source"], src["source_project"], src["source_path"]) == ("scm", proj["id"], "inventories/" + env)
        inventories[env] = inv["id"]
    templates = {}
    for jt in awx.get("job_templates/?page_size=100")["results"]:
        creds = {c["name"] for c in awx.get(jt["related"]["credentials"])["results"]}
        assert jt["project"] == proj["id"] and jt["organization"] == org["id"]
        assert "Super-Todo Kubernetes" in creds
        if jt["inventory"] == inventories["production"] or jt["ask_inventory_on_launch"]:
            assert creds == {"Super-Todo Kubernetes", "Super-Todo vault"}, jt["name"]
        templates[jt["name"]] = jt
    assert len(templates) == 7
    assert templates["Super-Todo promote"]["survey_enabled"] is True
    survey = awx.get(templates["Super-Todo promote"]["related"]["survey_spec"])
    assert survey["spec"][0]["variable"] == "promote_version"
    wfjt = awx.one("workflow_job_templates", name=WORKFLOW)
    nodes = {n["identifier"]: n for n in awx.get(wfjt["related"]["workflow_nodes"] + "?page_size=50")["results"]}
    ident = {n["id"]: i for i, n in nodes.items()}
    graph = {i: {k: sorted(ident[c] for c in n[k]) for k in ("success_nodes", "failure_nodes", "always_nodes")
                 if n[k]} for i, n in nodes.items()}
    assert graph == {
        "converge-staging": {"success_nodes": ["verify-staging"]},
        "verify-staging": {"success_nodes": ["approve-promotion"]},
        "approve-promotion": {"success_nodes": ["promote"]},
        "promote": {"success_nodes": ["verify-production"], "failure_nodes": ["rollback-production"]},
        "verify-production": {"failure_nodes": ["rollback-production"]},
        "rollback-production": {"always_nodes": ["verify-production-after-rollback"]},
        "verify-production-after-rollback": {},
    }
    approval = awx.get(nodes["approve-promotion"]["related"]["unified_job_template"])
    assert approval["type"] == "workflow_approval_template" and approval["timeout"] == 86400
    assert nodes["converge-staging"]["unified_job_template"] == templates["Super-Todo converge staging"]["id"]
    assert nodes["verify-staging"]["inventory"] == inventories["staging"]
    assert nodes["verify-production"]["inventory"] == inventories["production"]


@pytest.fixture(scope="module")
def production(awx, configured, kube):
    """Production converged at its inventory's v1.0.0 by the job template, through both credentials."""
    if kube.kubectl("get", "namespace", "flux-system").returncode != 0:
        assert kube.kubectl("create", "namespace", "flux-system").returncode == 0
    kube.kubectl("-n", "production", "delete", "configmap", RECORD, "--ignore-not-found")
    jt = awx.one("job_templates", name="Super-Todo converge production")
    status, body = awx.call("POST", "job_templates/%d/launch/" % jt["id"], {})
    assert status == 201, body
    job = awx.wait("jobs/%d/" % body["job"], _finished, 900, "converge production")
    assert job["status"] == "successful", awx.stdout(job["id"])[-8000:]
    assert _production_tag(kube) == "v1.0.0"
    return job


def test_production_job_gets_the_credentials_the_way_awx_injects_them(awx, production):
    stdout = awx.stdout(production["id"])
    for value in SECRETS.values():
        assert value not in stdout
    private = awx.state / "jobs" / str(production["id"])
    envvars = json.loads((private / "env" / "envvars").read_text())
    assert set(envvars) >= {"K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_VERIFY_SSL", "K8S_AUTH_SSL_CA_CERT"}
    assert envvars["K8S_AUTH_VERIFY_SSL"] == "True"
    assert (private / "env" / "cmdline").read_text() == "--ask-vault-pass"
    extravars = json.loads((private / "env" / "extravars").read_text())
    assert extravars["awx_job_id"] == production["id"]


def test_approved_promotion_converges_and_verifies_staging_waits_then_promotes_production(awx, production, kube):
    wj = _launch(awx, "v1.1.0")
    nodes = _wait_for_approval(awx, wj)
    assert nodes["converge-staging"]["_job"]["status"] == "successful", _job_report(awx, nodes)
    assert nodes["verify-staging"]["_job"]["status"] == "successful", _job_report(awx, nodes)
    approval = nodes["approve-promotion"]["_job"]
    assert approval["status"] == "pending", _job_report(awx, nodes)
    assert nodes["promote"]["_job"] is None
    assert awx.get("workflow_jobs/%d/" % wj)["status"] == "running"
    assert _production_tag(kube) == "v1.0.0"
    staging = _kget(kube, "-n", "staging", "get", "helmreleases.helm.toolkit.fluxcd.io", "super-todo")
    assert staging["spec"]["values"]["image"]["tag"] == "v1.1.0"

    assert awx.call("POST", "workflow_approvals/%d/approve/" % approval["id"], {})[0] == 204
    done = awx.wait("workflow_jobs/%d/" % wj, _finished, 900, "the promotion workflow")
    nodes = awx.workflow_nodes(wj)
    assert done["status"] == "successful", _job_report(awx, nodes)
    assert nodes["promote"]["_job"]["status"] == "successful"
    assert nodes["verify-production"]["_job"]["status"] == "successful"
    assert nodes["rollback-production"]["do_not_run"] and nodes["verify-production-after-rollback"]["do_not_run"]
    assert _production_tag(kube) == "v1.1.0"
    last, _history = _record(kube)
    assert last["result"] == "succeeded" and last["from"] == "v1.0.0" and last["to"] == "v1.1.0"
    assert last["gates"]["confirm"] == {"status": "skipped", "message": "run by AWX job %d (AWX confirms through its "
                                        "approval node)" % nodes["promote"]["_job"]["id"]}
    assert awx.call("POST", "workflow_approvals/%d/deny/" % approval["id"], {})[0] == 400


def test_denied_promotion_leaves_production_unchanged(awx, production, kube):
    record_before, history_before = _record(kube)
    tag_before = _production_tag(kube)
    wj = _launch(awx, "v1.1.0")
    nodes = _wait_for_approval(awx, wj)
    approval = nodes["approve-promotion"]["_job"]
    assert approval is not None and approval["status"] == "pending", _job_report(awx, nodes)
    assert awx.call("POST", "workflow_approvals/%d/deny/" % approval["id"], {})[0] == 204
    done = awx.wait("workflow_jobs/%d/" % wj, _finished, 120, "the denied workflow")
    nodes = awx.workflow_nodes(wj)
    assert done["status"] == "failed"
    assert nodes["approve-promotion"]["_job"]["status"] == "failed"
    for ident in ("promote", "verify-production", "rollback-production", "verify-production-after-rollback"):
        assert nodes[ident]["do_not_run"] and nodes[ident]["_job"] is None, ident
    assert _production_tag(kube) == tag_before
    assert _record(kube) == (record_before, history_before)


def test_a_failing_staging_verify_stops_the_workflow_before_the_approval(awx, production, kube, project):
    tag_before = _production_tag(kube)
    record_before = _record(kube)
    wj = _launch(awx, "v1.1.0")
    # The converge job has synced the project (update on launch); the next commit reaches the verify job only.
    deadline = time.monotonic() + 300
    while True:
        converge = awx.workflow_nodes(wj)["converge-staging"]["_job"]
        if converge and converge.get("scm_revision"):
            break
        assert time.monotonic() < deadline, "the converge job did not start"
        time.sleep(0.5)
    # staging's inventory now wants another log level than the converge applied, and its verify fails on drift
    bad = _commit(project["work"], {"inventories/staging/group_vars/staging/zz_verify.yml":
                                    "---\nsuper_todo_log_level: INFO\nverify_fail_on_drift: true\n"},
                  "staging: log level INFO, verify fails on drift")
    try:
        done = awx.wait("workflow_jobs/%d/" % wj, _finished, 900, "the workflow with a failing verify")
    finally:
        _git(project["work"], "revert", "--no-edit", "HEAD")
        _git(project["work"], "push", "-q", "origin", "HEAD:main")
    nodes = awx.workflow_nodes(wj)
    assert nodes["converge-staging"]["_job"]["status"] == "successful", _job_report(awx, nodes)
    verify = nodes["verify-staging"]["_job"]
    assert verify["status"] == "failed" and verify["scm_revision"] == bad, _job_report(awx, nodes)
    assert "staging drifts from its inventory in: Log level." in " ".join(awx.stdout(verify["id"]).split())
    assert done["status"] == "failed"
    for ident in ("approve-promotion", "promote", "verify-production", "rollback-production",
                  "verify-production-after-rollback"):
        assert nodes[ident]["do_not_run"] and nodes[ident]["_job"] is None, ident
    assert awx.get("workflow_approvals/?workflow_job=%d" % wj)["count"] == 0
    assert _production_tag(kube) == tag_before and _record(kube) == record_before
