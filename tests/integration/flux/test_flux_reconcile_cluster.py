"""flux_reconcile and flux_info on the local cluster with the Flux controller double (real apiserver, real helm)."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from pathlib import Path

import pytest

from fluxtest_objects import gitrepository, helmrelease

pytestmark = pytest.mark.cluster

HR = "helmrelease"
REPO = Path(__file__).resolve().parents[3]


def _when(token):
    """A request token (RFC 3339, nanoseconds, trailing zeros trimmed) as a sortable tuple."""
    stamp, dummy, frac = token.rstrip("Z").partition(".")
    return stamp, int((frac or "0").ljust(9, "0"))


@pytest.fixture(scope="module")
def app(flux):
    """A GitRepository and a HelmRelease of the test chart, reconciled once (Ready from an earlier run)."""
    flux.apply(gitrepository(flux.namespace, flux.git_url), helmrelease(flux.namespace, "app",
                                                                        values={"message": "one"}))
    first = flux.reconcile(kind="HelmRelease", name="app", with_source=True, timeout=180)
    assert first.get("failed") is not True, first.get("msg")
    return first


def test_happy_path_with_source_applies_the_chart(flux, app):
    assert app["changed"] is True and app["ready"] is True
    hr = flux.get(HR, "app")
    assert hr["status"]["lastHandledReconcileAt"] == app["token"]
    assert hr["status"]["observedGeneration"] == hr["metadata"]["generation"]
    # the GitRepository was fetched from the Git server: <branch>@sha1:<the commit pushed there>
    git_rev = flux.get("gitrepository", "repo")["status"]["artifact"]["revision"]
    assert git_rev == "main@sha1:%s" % flux.git_commit
    sha = flux.git_commit
    assert app["revision"] == "fluxtest@0.1.0+%s" % sha[:12]
    # with_source: the HelmChart <ns>-<name> in the source's namespace was reconciled first, with its own token
    source = app["source"]
    assert (source["kind"], source["namespace"], source["name"]) == ("HelmChart", flux.namespace,
                                                                     "%s-app" % flux.namespace)
    assert _when(source["token"]) < _when(app["token"]) and source["ready"] is True
    chart = flux.get("helmchart", "%s-app" % flux.namespace)
    assert chart["status"]["lastHandledReconcileAt"] == source["token"]
    # the chart's objects exist, applied server-side by helm-controller, and the Deployment is Available
    deploy = flux.kubectl_json("get", "deployment", "app", "-n", flux.namespace, "--show-managed-fields")
    assert deploy["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "app"
    assert any(m["manager"] == "helm-controller" for m in deploy["metadata"]["managedFields"])
    assert deploy["status"]["availableReplicas"] == 1
    assert flux.get("configmap", "app-config")["data"] == {"message": "one"}
    assert hr["status"]["history"][0]["chartVersion"] == "0.1.0+%s" % sha[:12]


def test_values_change_is_applied_and_history_grows(flux, app):
    flux.apply(helmrelease(flux.namespace, "app", values={"message": "two"}))
    res = flux.reconcile(kind="HelmRelease", name="app", timeout=180)
    assert res["ready"] is True
    assert flux.get("configmap", "app-config")["data"] == {"message": "two"}
    history = flux.get(HR, "app")["status"]["history"]
    assert len(history) >= 2 and history[0]["configDigest"] != history[1]["configDigest"]


def test_stale_ready_does_not_satisfy_a_new_request(flux, app):
    flux.annotate(HR, "app", "test.supertodo.io/hang=true")
    try:
        res = flux.reconcile(kind="HelmRelease", name="app", timeout=4)
        assert res["failed"] is True
        assert "HelmRelease %s/app not ready after 4s: missing status.lastHandledReconcileAt >= %s" % (
            flux.namespace, res["details"]["token"]) in res["msg"]
        assert "last reported: Ready=True" in res["msg"]       # Ready from the earlier run did not count
        assert res["details"]["duration"] >= 4
    finally:
        flux.annotate(HR, "app", "test.supertodo.io/hang-")
    assert flux.reconcile(kind="HelmRelease", name="app", timeout=120)["ready"] is True


def test_a_newer_request_handled_instead_of_ours_is_success_and_patches_carry_the_cli_field_manager(flux, app):
    """Two clients request a reconcile before the controller gets to the object: it handles the newest only, and the
    first caller must accept that newer handled request (as the Flux CLI does) instead of timing out on its own."""
    flux.annotate(HR, "app", "test.supertodo.io/hang=true")
    before = flux.get(HR, "app")["metadata"]["annotations"].get("reconcile.fluxcd.io/requestedAt")
    argv = ["ansible", "localhost", "-m", "supertodo.platform.flux_reconcile", "-a",
            json.dumps({"kind": "HelmRelease", "name": "app", "namespace": flux.namespace, "timeout": 45})]
    proc = subprocess.Popen(argv, cwd=str(REPO), env=flux.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            hr = flux.kubectl_json("get", HR, "app", "-n", flux.namespace, "--show-managed-fields")
            ours = hr["metadata"]["annotations"].get("reconcile.fluxcd.io/requestedAt")
            if ours != before:
                break
            assert time.monotonic() < deadline and proc.poll() is None, "flux_reconcile wrote no request"
            time.sleep(0.2)
        # our request went in with the Flux CLI's field manager, which owns the annotation
        owners = [m["manager"] for m in hr["metadata"]["managedFields"]
                  if "f:reconcile.fluxcd.io/requestedAt" in json.dumps(m.get("fieldsV1", {}))]
        assert owners == ["flux-client-side-apply"], hr["metadata"]["managedFields"]
        # another client's request, a moment after ours (as the Flux CLI writes it: RFC 3339, UTC)
        newer = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert _when(newer) > _when(ours)
        flux.annotate(HR, "app", "reconcile.fluxcd.io/requestedAt=%s" % newer)
    finally:
        flux.annotate(HR, "app", "test.supertodo.io/hang-")
    stdout, stderr = proc.communicate(timeout=120)
    try:
        result = json.loads(stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError("ansible output not understood (%s):\n%s\n%s" % (exc, stdout[-3000:], stderr[-3000:]))
    assert result.get("failed") is not True, result.get("msg")
    assert result["token"] == ours and result["ready"] is True
    assert flux.get(HR, "app")["status"]["lastHandledReconcileAt"] == newer == result["results"][0][
        "last_handled_reconcile_at"]


def test_failing_release_returns_its_message_quickly(flux, app):
    flux.annotate(HR, "app", "test.supertodo.io/fail=install retries exhausted: image pull failed")
    try:
        res = flux.reconcile(kind="HelmRelease", name="app", timeout=300)
    finally:
        flux.annotate(HR, "app", "test.supertodo.io/fail-")
    assert res["failed"] is True
    assert res["msg"] == ("HelmRelease %s/app reconcile failed: InstallFailed: install retries exhausted: image pull "
                          "failed" % flux.namespace)
    assert res["details"]["duration"] < 10


def test_chart_values_that_do_not_fit_fail_the_release(flux):
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "bitnami", "namespace": flux.namespace},
            "spec": {"interval": "1h", "url": "https://charts.bitnami.com/bitnami"}}
    bad = helmrelease(flux.namespace, "cache", chart="redis", source=("HelmRepository", "bitnami"),
                      values={"replica": {"replicaCount": "three"}})
    flux.apply(repo, bad)
    res = flux.reconcile(kind="HelmRelease", name="cache", with_source=True, timeout=300)
    assert res["failed"] is True
    assert "reconcile failed: InstallFailed" in res["msg"] and "replica/replicaCount" in res["msg"]
    assert "'three' is not of type 'number'" in res["msg"]
    flux.apply(helmrelease(flux.namespace, "cache", chart="redis", source=("HelmRepository", "bitnami"),
                           values={"architecture": "standalone"}))
    good = flux.reconcile(kind="HelmRelease", name="cache", timeout=120)
    assert good["ready"] is True and good["revision"].startswith("redis@")


def test_suspended_refused_then_resumed(flux, app):
    res = flux.reconcile(kind="HelmRelease", name="app", state="suspended")
    assert res["changed"] is True and flux.get(HR, "app")["spec"]["suspend"] is True
    assert flux.reconcile(kind="HelmRelease", name="app", state="suspended")["changed"] is False
    refused = flux.reconcile(kind="HelmRelease", name="app")
    assert refused["failed"] is True and "is suspended" in refused["msg"]
    resumed = flux.reconcile(kind="HelmRelease", name="app", state="resumed", timeout=120)
    assert resumed["ready"] is True and flux.get(HR, "app")["spec"]["suspend"] is False
    assert flux.get(HR, "app")["status"]["lastHandledReconcileAt"] == resumed["token"]


def test_force_and_reset_annotations_equal_the_token(flux, app):
    res = flux.reconcile(kind="HelmRelease", name="app", force=True, reset=True, timeout=120)
    hr = flux.get(HR, "app")
    ann = hr["metadata"]["annotations"]
    assert ann["reconcile.fluxcd.io/requestedAt"] == ann["reconcile.fluxcd.io/forceAt"] == \
        ann["reconcile.fluxcd.io/resetAt"] == res["token"]
    assert hr["status"]["lastHandledForceAt"] == hr["status"]["lastHandledResetAt"] == res["token"]


def test_check_mode_patches_nothing(flux, app):
    before = flux.get(HR, "app")
    res = flux.reconcile(kind="HelmRelease", name="app", check=True, diff=True)
    after = flux.get(HR, "app")
    assert res["changed"] is True and res["token"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["annotations"].get("reconcile.fluxcd.io/requestedAt") != res["token"]
    assert res["diff"]["after"]["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == res["token"]


def test_objects_in_dependency_order_and_flux_info(flux, app):
    flux.apply(helmrelease(flux.namespace, "app2", depends_on=["app"], values={"message": "dep"}))
    res = flux.reconcile(objects=[{"kind": "HelmRelease", "name": "app2"}, {"kind": "HelmRelease", "name": "app"}],
                         with_source=True, timeout=180)
    assert [r["name"] for r in res["results"]] == ["app", "app2"]
    assert all(r["ready"] for r in res["results"])
    info = flux.module("flux_info", {"kind": "HelmRelease", "namespace": flux.namespace})
    rows = {o["name"]: o for o in info["objects"]}
    assert info["changed"] is False
    assert rows["app2"]["ready"] is True and rows["app2"]["last_handled_reconcile_at"] == res["results"][1]["token"]
    assert rows["app2"]["revision"].startswith("fluxtest@0.1.0+") and rows["app2"]["age"] >= 0
    everything = flux.module("flux_info", {"namespace": flux.namespace})
    kinds = {o["kind"] for o in everything["objects"]}
    assert {"GitRepository", "HelmChart", "HelmRelease"} <= kinds


def test_reconcile_role_orders_the_environment_releases(flux, app):
    flux.apply(helmrelease(flux.namespace, "app2", depends_on=["app"], values={"message": "dep"}))
    proc = subprocess.run(["ansible-playbook", "tests/integration/flux/role_reconcile.yml", "-e",
                           "supertodo_namespace=%s" % flux.namespace], cwd=str(REPO), env=flux.kube.env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "ok=" in proc.stdout and "failed=0" in proc.stdout
