# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/verify.yml on the local cluster (real kube-apiserver + etcd, the kubelet double).

The test applies a staging-shaped environment itself with kubernetes.core.k8s (files/environment.yml), writes the
HelmReleases' status the way helm-controller does (they are suspended so the Flux double leaves them alone), then
runs the real playbook with the staging inventory and checks the report: no drift and Ready when everything matches,
drift on exactly the edited row after an edit behind our back, failure when a release is not Ready or the app is not
Available, and the last promotion record.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
FILES = Path(__file__).resolve().parent / "files"


def _env(kube):
    env = dict(kube.env)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    env.pop("K8S_AUTH_HOST", None)
    return env


def _playbook(kube, *args, check=True):
    proc = subprocess.run(
        ["ansible-playbook", *args], cwd=str(REPO), env=_env(kube), capture_output=True, text=True, timeout=600,
        check=False,
    )
    if check:
        assert proc.returncode == 0, "ansible-playbook %s failed:\n%s\n%s" % (" ".join(args), proc.stdout[-6000:], proc.stderr[-3000:])
    return proc


def _kubectl(kube, *args):
    proc = kube.kubectl(*args)
    assert proc.returncode == 0, "kubectl %s: %s %s" % (" ".join(args), proc.stdout, proc.stderr)
    return proc.stdout


def _set_release_status(kube, ns, name, status="True", reason="InstallSucceeded", message="Helm install succeeded"):
    obj = json.loads(_kubectl(kube, "-n", ns, "get", "helmrelease", name, "-o", "json"))
    patch = {"status": {"observedGeneration": obj["metadata"]["generation"], "conditions": [{
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "observedGeneration": obj["metadata"]["generation"]}]}}
    _kubectl(kube, "-n", ns, "patch", "helmrelease", name, "--subresource=status", "--type=merge", "-p", json.dumps(patch))


def _wait_available(kube, ns, name, timeout=120):
    start = time.monotonic()
    while True:
        obj = json.loads(_kubectl(kube, "-n", ns, "get", "deployment", name, "-o", "json"))
        conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
        if conds.get("Available") == "True" and obj["status"].get("availableReplicas", 0) >= obj["spec"]["replicas"] \
                and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]:
            return
        assert time.monotonic() - start < timeout, "Deployment %s/%s not Available after %ss: %s" % (ns, name, timeout, obj.get("status"))
        # a watch would be nicer; the Deployment controller answers within a second or two
        kube.kubectl("-n", ns, "wait", "deployment/%s" % name, "--for=condition=Available", "--timeout=5s")


@pytest.fixture(scope="module")
def environment(kube, tmp_path_factory):
    ns = "verify-%s" % uuid.uuid4().hex[:6]
    report_dir = tmp_path_factory.mktemp("verify-report")
    _playbook(kube, str(FILES / "environment.yml"), "-e", "verify_test_namespace=%s" % ns)
    for name in ("super-todo", "postgres-staging", "redis-staging"):
        _set_release_status(kube, ns, name)
    _wait_available(kube, ns, "super-todo")
    yield {"ns": ns, "report_dir": report_dir}
    kube.kubectl("delete", "namespace", ns, "--wait=false")


def _verify(kube, environment, *extra, check=True):
    return _playbook(
        kube, "-i", "inventories/staging", "playbooks/verify.yml",
        "-e", "supertodo_namespace=%s" % environment["ns"],
        "-e", "verify_report_dir=%s" % environment["report_dir"],
        "-e", "verify_promotion_namespace=%s" % environment["ns"],
        "-e", "@%s" % (FILES / "wanted.yml"),
        *extra, check=check,
    )


def _report(environment):
    return json.loads((Path(environment["report_dir"]) / "staging.json").read_text())


def _recap_changed(stdout):
    line = [x for x in stdout.splitlines() if x.startswith("localhost")][-1]
    return int(line.split("changed=")[1].split()[0])


def test_matching_environment_is_ready_without_drift(kube, environment):
    proc = _verify(kube, environment)
    report = _report(environment)
    assert report["ready"] is True, report["problems"]
    assert report["drift"] == [], [(r["feature"], r["wanted"], r["live"]) for r in report["rows"] if r["drift"]]
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["namespace"]["live"] == environment["ns"]
    assert rows["replicas"]["live"] == "1"
    assert rows["postgresql"]["live"] == "1 instance"
    assert rows["redis"]["live"] == "standalone"
    assert rows["storage"]["live"] == "PostgreSQL 5Gi, Redis 2Gi"
    assert rows["ingress"]["live"] == "app.staging.local (TLS)"
    assert rows["log_level"]["live"] == "debug"
    assert rows["network_policies"]["live"] == "basic"
    assert {o["object"] for o in report["objects"]} == {
        "HelmRelease super-todo", "HelmRelease postgres-staging", "HelmRelease redis-staging", "Deployment super-todo"}
    md = (Path(environment["report_dir"]) / "staging.md").read_text()
    # the inventory says DEBUG (the super_todo role's spelling), the ConfigMap debug: the same level, not drift
    assert "| Log level | DEBUG | debug |  |" in md
    assert "Feature" in proc.stdout and "Inventory wants" in proc.stdout
    # a second run of an unchanged environment rewrites nothing
    again = _verify(kube, environment)
    assert _recap_changed(again.stdout) == 0


def test_edit_behind_our_back_shows_drift_on_its_row(kube, environment):
    ns = environment["ns"]
    _kubectl(kube, "-n", ns, "patch", "configmap", "super-todo-config", "--type=merge", "-p", '{"data":{"LOG_LEVEL":"info"}}')
    try:
        proc = _verify(kube, environment, "-e", "verify_fail_on_drift=true", check=False)
        assert proc.returncode != 0
        assert "drifts from its inventory in: Log level" in proc.stdout
        report = _report(environment)
        assert report["drift"] == ["Log level"]
        assert report["ready"] is True
        line = [x for x in proc.stdout.splitlines() if "Log level" in x and "DRIFT" in x]
        assert line, proc.stdout[-3000:]
    finally:
        _kubectl(kube, "-n", ns, "patch", "configmap", "super-todo-config", "--type=merge", "-p", '{"data":{"LOG_LEVEL":"debug"}}')
    # drift is reported but is not a failure by default; after the fix it is gone
    _verify(kube, environment)
    assert _report(environment)["drift"] == []


def test_scaled_deployment_is_replicas_drift(kube, environment):
    ns = environment["ns"]
    _kubectl(kube, "-n", ns, "scale", "deployment/super-todo", "--replicas=2")
    try:
        _wait_available(kube, ns, "super-todo")
        _verify(kube, environment)
        report = _report(environment)
        assert report["drift"] == ["Replicas"]
        assert {r["key"]: r for r in report["rows"]}["replicas"]["live"] == "2"
    finally:
        _kubectl(kube, "-n", ns, "scale", "deployment/super-todo", "--replicas=1")
        _wait_available(kube, ns, "super-todo")


def test_release_not_ready_fails_the_play(kube, environment):
    ns = environment["ns"]
    _set_release_status(kube, ns, "redis-staging", "False", "InstallFailed", "values don't meet the specifications of the schema")
    try:
        proc = _verify(kube, environment, check=False)
        assert proc.returncode != 0
        assert "is not Ready: HelmRelease redis-staging not ready: InstallFailed: values don't meet the specifications" in proc.stdout
        report = _report(environment)  # written before failing
        assert report["ready"] is False
    finally:
        _set_release_status(kube, ns, "redis-staging")


def test_unavailable_deployment_fails_the_play(kube, environment):
    ns = environment["ns"]
    # an image-less rollout that can never become ready: a container that never turns Ready stays unavailable
    _kubectl(kube, "-n", ns, "patch", "deployment", "super-todo", "--type=merge", "-p", json.dumps({
        "spec": {"progressDeadlineSeconds": 600, "template": {"spec": {"nodeSelector": {"supertodo.test/none": "x"}}}}}))
    _kubectl(kube, "-n", ns, "scale", "deployment/super-todo", "--replicas=0")
    _kubectl(kube, "-n", ns, "scale", "deployment/super-todo", "--replicas=1")
    try:
        start = time.monotonic()
        while True:
            obj = json.loads(_kubectl(kube, "-n", ns, "get", "deployment", "super-todo", "-o", "json"))
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            if conds.get("Available") == "False":
                break
            assert time.monotonic() - start < 60, obj.get("status")
            kube.kubectl("-n", ns, "wait", "deployment/super-todo", "--for=condition=Available=False", "--timeout=5s")
        proc = _verify(kube, environment, check=False)
        assert proc.returncode != 0
        assert "Deployment super-todo not ready: MinimumReplicasUnavailable" in proc.stdout
    finally:
        _kubectl(kube, "-n", ns, "patch", "deployment", "super-todo", "--type=json",
                 "-p", '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]')
        _wait_available(kube, ns, "super-todo")


def test_last_promotion_record_is_shown(kube, environment):
    ns = environment["ns"]
    record = {"who": "alice", "when": "2026-11-28T09:00:00Z", "from": "1.0.0", "to": "1.1.0", "result": "succeeded"}
    _kubectl(kube, "-n", ns, "create", "configmap", "supertodo-promotions",
             "--from-literal=last=%s" % json.dumps(record), "--from-literal=history=%s" % json.dumps([record]))
    try:
        proc = _verify(kube, environment)
        assert "last promotion: 1.0.0 -> 1.1.0, succeeded, by alice at 2026-11-28T09:00:00Z" in proc.stdout
        assert _report(environment)["last_promotion"] == record
    finally:
        _kubectl(kube, "-n", ns, "delete", "configmap", "supertodo-promotions")


def test_awx_bearer_token_credential_reaches_the_cluster(kube, environment, tmp_path):
    """Under AWX the bearer-token credential sets K8S_AUTH_HOST/K8S_AUTH_API_KEY/K8S_AUTH_SSL_CA_CERT and no
    kubeconfig: the report must work with a read-only service account token alone."""
    import base64
    import yaml

    ns = environment["ns"]
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "verify-reader", "namespace": ns}},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": "verify-reader-token", "namespace": ns,
                      "annotations": {"kubernetes.io/service-account.name": "verify-reader"}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "%s-verify-reader" % ns},
         "rules": [{"apiGroups": ["", "apps", "autoscaling", "networking.k8s.io", "helm.toolkit.fluxcd.io",
                                  "postgresql.cnpg.io", "barmancloud.cnpg.io", "monitoring.coreos.com"],
                    "resources": ["namespaces", "configmaps", "deployments", "horizontalpodautoscalers", "ingresses",
                                  "networkpolicies", "helmreleases", "clusters", "scheduledbackups", "objectstores",
                                  "servicemonitors", "podmonitors"],
                    "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "%s-verify-reader" % ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "%s-verify-reader" % ns},
         "subjects": [{"kind": "ServiceAccount", "name": "verify-reader", "namespace": ns}]},
    ]
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(yaml.safe_dump_all(rbac))
    _kubectl(kube, "apply", "-f", str(manifest))
    try:
        start, token = time.monotonic(), None
        while token is None:
            secret = json.loads(_kubectl(kube, "-n", ns, "get", "secret", "verify-reader-token", "-o", "json"))
            token = (secret.get("data") or {}).get("token")
            if token is None:
                if time.monotonic() - start > 30:
                    pytest.skip("this cluster runs no service-account token controller")
                kube.kubectl("-n", ns, "wait", "secret/verify-reader-token", "--for=jsonpath={.data.token}", "--timeout=2s")
        config = yaml.safe_load(Path(kube.kubeconfig).read_text())
        cluster = config["clusters"][0]["cluster"]
        env_auth = {"K8S_AUTH_HOST": cluster["server"], "K8S_AUTH_API_KEY": base64.b64decode(token).decode()}
        if cluster.get("certificate-authority-data"):
            ca = tmp_path / "ca.crt"
            ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
            env_auth["K8S_AUTH_SSL_CA_CERT"] = str(ca)
        elif cluster.get("certificate-authority"):
            env_auth["K8S_AUTH_SSL_CA_CERT"] = cluster["certificate-authority"]
        else:
            env_auth["K8S_AUTH_VERIFY_SSL"] = "false"
        env = {k: v for k, v in _env(kube).items() if k != "KUBECONFIG" and not k.startswith("K8S_AUTH_")}
        env.update(env_auth)
        proc = subprocess.run(
            ["ansible-playbook", "-i", "inventories/staging", "playbooks/verify.yml",
             "-e", "supertodo_namespace=%s" % ns, "-e", "verify_report_dir=%s" % (tmp_path / "report"),
             "-e", "verify_promotion_namespace=%s" % ns, "-e", "@%s" % (FILES / "wanted.yml")],
            cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        report = json.loads((tmp_path / "report" / "staging.json").read_text())
        assert report["ready"] is True and report["drift"] == []
        assert env_auth["K8S_AUTH_API_KEY"] not in proc.stdout + proc.stderr
    finally:
        kube.kubectl("delete", "-f", str(manifest), "--ignore-not-found")


def test_objects_reader_returns_what_kubectl_lists(kube, environment, monkeypatch):
    """k8s_objects_info's reader with the collection's client against the real API server: the same objects as
    kubectl get, a kind whose CRD is not installed reads as empty, an object that does not exist as nothing."""
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.objects import read_objects

    ns = environment["ns"]
    for key in [k for k in os.environ if k.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(key)
    client = KubeClient({"kubeconfig": kube.env["KUBECONFIG"]})
    kinds = [("apps/v1", "Deployment", "deployments"), ("v1", "ConfigMap", "configmaps"),
             ("networking.k8s.io/v1", "Ingress", "ingresses"), ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases")]
    res = read_objects(client, [{"api_version": a, "kind": k} for a, k, dummy in kinds]
                       + [{"api_version": "example.invalid/v1", "kind": "Widget"},
                          {"api_version": "v1", "kind": "Namespace", "name": ns},
                          {"api_version": "v1", "kind": "ConfigMap", "name": "no-such-record", "key": "promotion"}], ns)
    for dummy, kind, plural in kinds:
        listed = json.loads(_kubectl(kube, "-n", ns, "get", plural, "-o", "json"))["items"]
        assert sorted(o["metadata"]["name"] for o in res["objects"][kind]) == sorted(o["metadata"]["name"] for o in listed)
        assert all(o["kind"] == kind and "managedFields" not in o["metadata"] for o in res["objects"][kind])
    assert res["objects"]["Widget"] == [] and res["not_served"] == ["example.invalid/v1 Widget in namespace %s" % ns]
    assert [o["metadata"]["name"] for o in res["objects"]["Namespace"]] == [ns]
    assert res["objects"]["promotion"] == []
