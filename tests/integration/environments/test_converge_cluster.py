# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/site.yml on the local cluster (real kube-apiserver 1.20 + etcd): both inventories converge, a second
converge changes nothing, check mode changes no resourceVersion, Secrets are generated once and never printed,
the strict NetworkPolicies stored by the API server allow exactly the needed flows, and prune detection fails
naming the field the API server dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import base64
import uuid
from pathlib import Path

import pytest
import yaml

from test_render_and_refusals import GOOD, SEEDS, STRICT_ALLOWED, _flows

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
FIELD_MANAGER = "supertodo.platform"
REPORT_DIR = tempfile.mkdtemp(prefix="supertodo-verify-")


def _env(kube, extra=None):
    env = dict(kube.env)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", os.environ.get("PATH", "")))
    env.pop("K8S_AUTH_HOST", None)
    for key in list(env):
        if key.startswith("SUPERTODO_") and key != "SUPERTODO_SCHEMA_DIR":
            env.pop(key)
    # the chart's GitRepository reads the local cluster's Git server (the Flux double fetches it for real)
    env["SUPERTODO_GIT_URL"] = kube.git_url
    env.setdefault("SUPERTODO_SCHEMA_DIR", os.environ.get("SUPERTODO_SCHEMA_DIR", str(REPO.parent / "shared" / "schemas")))
    # site.yml ends with the environment report: keep its files out of the user's state directory.
    env["SUPERTODO_VERIFY_REPORT_DIR"] = REPORT_DIR
    env.update(extra or {})
    return env


# The local cluster serves Kubernetes 1.20: CronJob is batch/v1beta1 there (docs/data-tier.md).
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)


def site(kube, env_name, *args, extra_env=None, playbook="playbooks/site.yml"):
    return subprocess.run(["ansible-playbook", "-i", "inventories/%s" % env_name, playbook, *OLD_CLUSTER, *args],
                          cwd=str(REPO), env=_env(kube, extra_env), capture_output=True, text=True, timeout=900,
                          check=False)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


def _get(kube, *args):
    proc = kube.kubectl(*args, "-o", "json", "--show-managed-fields")
    assert proc.returncode == 0, "kubectl %s: %s" % (" ".join(args), proc.stderr)
    return json.loads(proc.stdout)


def _versions(kube, ns):
    """resourceVersion of every object of ours in the namespace and of the Flux objects in flux-system."""
    out = {}
    for kinds, space in (("namespace/%s" % ns, None),
                         ("resourcequotas,limitranges,serviceaccounts,secrets,roles,rolebindings,networkpolicies,"
                          "helmreleases.helm.toolkit.fluxcd.io,gitrepositories.source.toolkit.fluxcd.io", ns),
                         ("gitrepositories.source.toolkit.fluxcd.io,kustomizations.kustomize.toolkit.fluxcd.io",
                          "flux-system")):
        args = ["get", kinds] + (["-n", space] if space else [])
        data = _get(kube, *args)
        for item in data.get("items", [data]):
            meta = item["metadata"]
            if any(m.get("manager") == FIELD_MANAGER for m in meta.get("managedFields", [])):
                # A ResourceQuota's resourceVersion moves with its status (the quota admission counts pods as
                # they come and go): compare what we own, its spec, instead.
                out[(item["kind"], meta.get("namespace"), meta["name"])] = (
                    json.dumps(item["spec"], sort_keys=True) if item["kind"] == "ResourceQuota"
                    else meta["resourceVersion"])
    return out


def _secret_values(kube, ns):
    values = {}
    for name in ("postgres-%s-superuser" % ns, "postgres-%s-app" % ns, "redis-%s-auth" % ns):
        data = _get(kube, "-n", ns, "get", "secret", name)["data"]
        values[name] = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return values


@pytest.fixture(scope="module")
def flux_namespace(kube):
    created = kube.kubectl("get", "namespace", "flux-system").returncode != 0
    if created:
        assert kube.kubectl("create", "namespace", "flux-system").returncode == 0
    yield
    for env in ("staging", "production"):
        kube.kubectl("-n", "flux-system", "delete", "kustomizations.kustomize.toolkit.fluxcd.io",
                     "super-todo-%s" % env, "--ignore-not-found", "--wait=false")
    if created:
        kube.kubectl("delete", "namespace", "flux-system", "--wait=false")


@pytest.fixture(scope="module")
def staging(kube, flux_namespace):
    existed = kube.kubectl("get", "namespace", "staging").returncode == 0
    first = _ok(site(kube, "staging"))
    secrets = _secret_values(kube, "staging")
    versions = _versions(kube, "staging")
    second = _ok(site(kube, "staging", "-vvv"))
    # Taken here, not in the test: the reconcile test annotates the HelmReleases on purpose.
    after_second = _versions(kube, "staging")
    yield {"first": first, "second": second, "secrets": secrets, "versions": versions, "after_second": after_second}
    if not existed:
        kube.kubectl("delete", "namespace", "staging", "--wait=false")


@pytest.fixture(scope="module")
def production(kube, flux_namespace):
    existed = kube.kubectl("get", "namespace", "production").returncode == 0
    first = _ok(site(kube, "production", "-vvv", extra_env=GOOD))
    versions = _versions(kube, "production")
    second = _ok(site(kube, "production", "-vvv", extra_env=GOOD))
    after_second = _versions(kube, "production")
    yield {"first": first, "second": second, "versions": versions, "after_second": after_second}
    if not existed:
        kube.kubectl("delete", "namespace", "production", "--wait=false")


def _recap_changed(proc):
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    return int(line.split("changed=")[1].split()[0])


def test_staging_converges_with_every_object(kube, staging):
    assert _recap_changed(staging["first"]) >= 1
    ns = _get(kube, "get", "namespace", "staging")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    quota = _get(kube, "-n", "staging", "get", "resourcequota", "staging-quota")
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi"}
    kinds = {k for k, _n, _m in staging["versions"]}
    assert {"Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret", "Role", "RoleBinding",
            "NetworkPolicy", "HelmRelease", "GitRepository"} <= kinds
    # apply mode applies no Flux Kustomization and leaves the bootstrap's GitRepository alone
    assert not [k for k in staging["versions"] if k[0] == "Kustomization" or k[1] == "flux-system"]
    hr = _get(kube, "-n", "staging", "get", "helmreleases.helm.toolkit.fluxcd.io", "super-todo")
    assert hr["spec"]["values"]["app"]["logLevel"] == "DEBUG"
    assert hr["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "super-todo",
                                                        "namespace": "staging"}
    assert hr["spec"]["dependsOn"] == [{"name": "postgres-staging"}, {"name": "redis-staging"}]
    managers = [m for m in hr["metadata"]["managedFields"] if m["manager"] == FIELD_MANAGER]
    assert managers and managers[0]["operation"] == "Apply"


def test_staging_converge_ends_with_a_ready_report_of_the_live_cluster(staging):
    assert "staging (namespace staging): Ready" in staging["first"].stdout
    with open(os.path.join(REPORT_DIR, "staging.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    assert report["ready"] is True and report["drift"] == [] and report["problems"] == []
    assert {o["object"] for o in report["objects"]} >= {"HelmRelease super-todo", "HelmRelease postgres-staging",
                                                        "HelmRelease redis-staging", "Deployment super-todo"}


def _handled(kube, ns):
    data = _get(kube, "-n", ns, "get", "helmreleases.helm.toolkit.fluxcd.io")
    return {i["metadata"]["name"]: i.get("status", {}).get("lastHandledReconcileAt") for i in data["items"]}


def test_reconcile_playbook_reconciles_every_helmrelease_and_reports_its_revision(kube, staging):
    before = _handled(kube, "staging")
    proc = _ok(site(kube, "staging", playbook="playbooks/reconcile.yml"))
    after = _handled(kube, "staging")
    assert set(after) == {"super-todo", "postgres-staging", "redis-staging"}
    for name, token in after.items():
        assert token and token != before[name], name
        assert "HelmRelease staging/%s: " % name in proc.stdout
    proc = site(kube, "staging", "-e", "reconcile_name=no-such-release", playbook="playbooks/reconcile.yml")
    assert proc.returncode != 0
    assert "no HelmRelease no-such-release in namespace staging" in proc.stdout


def test_staging_second_converge_changes_nothing(staging):
    assert _recap_changed(staging["second"]) == 0
    assert staging["after_second"] == staging["versions"]


def test_staging_secrets_are_generated_once_and_never_printed(kube, staging):
    values = staging["secrets"]
    assert _secret_values(kube, "staging") == values
    assert values["postgres-staging-superuser"]["username"] == "postgres"
    secret_strings = []
    for data in values.values():
        for key, val in data.items():
            if key != "username":
                assert len(val) == 32
                secret_strings += [val, base64.b64encode(val.encode()).decode()]
    blob = staging["first"].stdout + staging["first"].stderr + staging["second"].stdout + staging["second"].stderr
    for val in secret_strings:
        assert val not in blob


def test_check_mode_changes_no_resource_version(kube, staging):
    before = _versions(kube, "staging")
    proc = _ok(site(kube, "staging", "--check", "--diff", "-e", "super_todo_log_level=INFO"))
    assert _recap_changed(proc) >= 1
    assert "logLevel: INFO" in proc.stdout
    assert _versions(kube, "staging") == before
    hr = _get(kube, "-n", "staging", "get", "helmreleases.helm.toolkit.fluxcd.io", "super-todo")
    assert hr["spec"]["values"]["app"]["logLevel"] == "DEBUG"
    proc = _ok(site(kube, "staging", "--check"))
    assert _recap_changed(proc) == 0


def test_production_converges_then_changes_nothing(kube, production):
    assert _recap_changed(production["first"]) >= 1
    assert _recap_changed(production["second"]) == 0
    assert production["after_second"] == production["versions"]
    ns = _get(kube, "get", "namespace", "production")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    lr = _get(kube, "-n", "production", "get", "limitrange", "production-limits")
    assert lr["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "512Mi"}
    role = _get(kube, "-n", "production", "get", "role", "super-todo")
    assert any("leases" in r["resources"] for r in role["rules"])
    assert _secret_values(kube, "production")["redis-production-auth"]["redis-password"] == GOOD["SUPERTODO_REDIS_PASSWORD"]


def test_production_output_has_no_secret_value(production):
    blob = "".join(p.stdout + p.stderr for p in (production["first"], production["second"]))
    for val in GOOD.values():
        assert val not in blob and base64.b64encode(val.encode()).decode() not in blob
    for seed in SEEDS:
        assert seed not in blob


def test_stored_strict_network_policies_allow_exactly_the_needed_flows(kube, production):
    policies = _get(kube, "-n", "production", "get", "networkpolicies")["items"]
    assert "default-deny-all" in {p["metadata"]["name"] for p in policies}
    flows = _flows(policies, "production")
    assert {name for name, ok in flows.items() if ok} == STRICT_ALLOWED


# -- prune detection -----------------------------------------------------------------------------------------

CRD_NAME = "widgets.prunetest.supertodo.io"


def _crd(with_color):
    spec_props = {"size": {"type": "integer"}}
    if with_color:
        spec_props["color"] = {"type": "string"}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD_NAME},
            "spec": {"group": "prunetest.supertodo.io", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {"type": "object", "properties": spec_props}}}}}]}}


def _apply_playbook(tmp_path, objects, schema_dir):
    play = [{"name": "apply", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Apply", "supertodo.platform.manifest_apply": {
            "manifests": [{"path": "t.yaml", "object": o} for o in objects], "schema_dir": str(schema_dir)}}]}]
    path = tmp_path / "apply.yml"
    path.write_text(yaml.safe_dump(play))
    return str(path)


def test_prune_detection_names_the_field_a_crd_lacks(kube, tmp_path):
    """The cluster's CRD is older than the one the manifest was validated against: the field is dropped."""
    schema_dir = tmp_path / "schemas"
    shutil.copytree(_env(kube)["SUPERTODO_SCHEMA_DIR"], schema_dir)
    (schema_dir / "crds" / "prunetest.yaml").write_text(yaml.safe_dump(_crd(with_color=True)))
    crd_file = tmp_path / "crd.yaml"
    crd_file.write_text(yaml.safe_dump(_crd(with_color=False)))
    ns = "prunetest-%s" % uuid.uuid4().hex[:6]
    try:
        assert kube.kubectl("apply", "-f", str(crd_file)).returncode == 0
        assert kube.kubectl("wait", "--for=condition=Established", "crd/%s" % CRD_NAME, "--timeout=60s").returncode == 0
        kube.kubectl("create", "namespace", ns)
        widget = {"apiVersion": "prunetest.supertodo.io/v1", "kind": "Widget",
                  "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 3, "color": "blue"}}
        proc = site(kube, "staging", playbook=_apply_playbook(tmp_path, [widget], schema_dir))
        assert proc.returncode != 0
        flat = " ".join(proc.stdout.split())
        assert "Widget %s/w1: the API server" % ns in flat and "it does not know: spec.color" in flat
        widget["spec"].pop("color")
        _ok(site(kube, "staging", playbook=_apply_playbook(tmp_path, [widget], schema_dir)))
    finally:
        kube.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
        kube.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found")


def test_a_field_kubernetes_1_20_does_not_know_is_not_reported_as_success(kube, tmp_path):
    """NetworkPolicy ports[].endPort is valid at 1.30 but unknown to 1.20: the step must fail naming it."""
    ns = "prunetest-np-%s" % uuid.uuid4().hex[:6]
    kube.kubectl("create", "namespace", ns)
    try:
        policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "ranges", "namespace": ns},
                  "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                           "egress": [{"ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}]}]}}
        proc = site(kube, "staging", playbook=_apply_playbook(tmp_path, [policy], _env(kube)["SUPERTODO_SCHEMA_DIR"]))
        version = json.loads(kube.kubectl("version", "-o", "json").stdout)["serverVersion"]
        if int(version["minor"].rstrip("+")) >= 22:
            pytest.skip("the API server knows endPort (Kubernetes %s)" % version["gitVersion"])
        assert proc.returncode != 0
        flat = " ".join(proc.stdout.split())
        assert "NetworkPolicy %s/ranges: the API server" % ns in flat and "endPort" in flat
        assert "it does not know:" in flat
    finally:
        kube.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
