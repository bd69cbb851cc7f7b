# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch-based waiter and the reconcile service on a fake client."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from ansible_collections.supertodo.platform.plugins.module_utils.flux import service as flux_service  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import (  # noqa: E402
    FluxError,
    ReconcileFailedError,
    ReconcileTimeoutError,
    SuspendedError,
)
from ansible_collections.supertodo.platform.plugins.module_utils.flux.waiter import wait_for  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError  # noqa: E402
from flux_fakes import FakeFluxClient, flux_obj, handles  # noqa: E402

OLD = "2026-11-27T08:00:00Z"
HR = "helm.toolkit.fluxcd.io/v2"


class Clock:
    def __init__(self, step=0.0):
        self.now = 1000.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


def test_watch_starts_from_the_patched_resource_version_and_skips_stale_ready():
    client = FakeFluxClient([flux_obj("HelmRelease", "app", "staging", ready="True", handled=OLD)],
                            controller=handles(before=[{"conditions": [
                                {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "x"}]}]))
    svc = flux_service.FluxService(client)
    result = svc.reconcile("HelmRelease", "staging", "app")
    patched_rv = str(int(client.objects[("HelmRelease", "staging", "app")]["metadata"]["resourceVersion"]) - 2)
    assert client.watches == [("HelmRelease", "staging", "app", patched_rv)]
    assert result["last_handled_reconcile_at"] == result["token"] != OLD
    assert result["ready"] is True and result["changed"] is True and result["waited"] is True


def test_failure_after_our_token_raises_at_once_with_the_message():
    client = FakeFluxClient([flux_obj("HelmRelease", "app", "staging", ready="True", handled=OLD)],
                            controller=handles(ready="False", message="values don't meet the specifications"))
    clock = Clock(step=0.01)
    with pytest.raises(ReconcileFailedError) as err:
        flux_service.FluxService(client, clock=clock).reconcile("HelmRelease", "staging", "app", timeout=300)
    assert "HelmRelease staging/app reconcile failed: InstallFailed: values don't meet the specifications" == str(
        err.value)
    assert err.value.result["duration"] < 1
    assert err.value.result["token"]


def test_timeout_names_the_missing_condition_and_the_last_state():
    client = FakeFluxClient([flux_obj("HelmRelease", "app", "staging", ready="True", handled=OLD)])
    clock = Clock(step=2.0)
    with pytest.raises(ReconcileTimeoutError) as err:
        flux_service.FluxService(client, clock=clock).reconcile("HelmRelease", "staging", "app", timeout=5)
    msg = str(err.value)
    assert msg.startswith("HelmRelease staging/app not ready after 5s: missing status.lastHandledReconcileAt >= ")
    assert "last reported: Ready=True Succeeded: all good; lastHandledReconcileAt=%s" % OLD in msg


def test_watch_gone_restarts_from_a_get():
    obj = flux_obj("GitRepository", "repo", ready="True", handled=OLD)
    client = FakeFluxClient([obj])
    calls = []
    real_watch = client.watch

    def flaky_watch(*args, **kwargs):
        calls.append(kwargs.get("resource_version"))
        if len(calls) == 1:
            raise ApiError("too old resource version", 410)
        token = client.patches[-1][3]["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        client.pending[("GitRepository", "flux-system", "repo")] = handles()(client.get(
            None, "GitRepository", "repo", "flux-system"))
        assert token
        return real_watch(*args, **kwargs)

    client.watch = flaky_watch
    result = flux_service.FluxService(client).reconcile("GitRepository", "flux-system", "repo")
    assert len(calls) == 2 and result["ready"]


def test_wait_for_returns_at_once_when_already_handled():
    done = flux_obj("Kustomization", "k", ready="True", handled="TOK")
    client = FakeFluxClient([done])
    obj, seconds = wait_for(client, "x", "Kustomization", "flux-system", "k", "TOK", 10)
    assert client.watches == [] and obj["status"]["lastHandledReconcileAt"] == "TOK"


def test_check_mode_patches_nothing_and_reports_the_request():
    client = FakeFluxClient([flux_obj("HelmRelease", "app", "staging", ready="True", handled=OLD)])
    result = flux_service.FluxService(client, check_mode=True).reconcile("HelmRelease", "staging", "app", force=True)
    assert client.patches == [] and client.watches == []
    assert result["requested"]["reconcile.fluxcd.io/forceAt"] == result["token"]
    assert result["diff"]["after"]["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == result["token"]
    assert result["diff"]["before"]["metadata"]["annotations"] == {}


def test_suspended_object_is_refused():
    client = FakeFluxClient([flux_obj("HelmRelease", "app", "staging", spec={"suspend": True})])
    with pytest.raises(SuspendedError, match="HelmRelease staging/app is suspended"):
        flux_service.FluxService(client).reconcile("HelmRelease", "staging", "app")
    assert client.patches == []


def test_with_source_reconciles_the_helmchart_first():
    hr = flux_obj("HelmRelease", "app", "staging", spec={"chart": {"spec": {
        "chart": "charts/app", "sourceRef": {"kind": "GitRepository", "name": "flux-system",
                                             "namespace": "flux-system"}}}})
    chart = flux_obj("HelmChart", "staging-app", status={"artifact": {"revision": "0.1.0"}})
    client = FakeFluxClient([hr, chart], controller=handles())
    result = flux_service.FluxService(client).reconcile("HelmRelease", "staging", "app", with_source=True)
    assert [(p[0], p[2]) for p in client.patches] == [("HelmChart", "staging-app"), ("HelmRelease", "app")]
    assert result["source"]["kind"] == "HelmChart" and result["source"]["revision"] == "0.1.0"
    assert result["source"]["token"] != result["token"]


def test_reconcile_many_follows_depends_on_and_stops_at_first_failure():
    app = flux_obj("HelmRelease", "app", "staging", spec={"dependsOn": [{"name": "db"}]})
    db = flux_obj("HelmRelease", "db", "staging")
    client = FakeFluxClient([app, db], controller=handles())
    refs = [{"kind": "HelmRelease", "namespace": "staging", "name": n} for n in ("app", "db")]
    results = flux_service.FluxService(client).reconcile_many(refs)
    assert [r["name"] for r in results] == ["db", "app"]

    def fail_db(obj):
        return handles(ready="False", message="db broke")(obj) if obj["metadata"]["name"] == "db" else handles()(obj)

    client = FakeFluxClient([app, db], controller=fail_db)
    with pytest.raises(FluxError, match="HelmRelease staging/db reconcile failed: InstallFailed: db broke") as err:
        flux_service.FluxService(client).reconcile_many(refs)
    assert [p[2] for p in client.patches] == ["db"]
    assert err.value.result["results"] == []


def test_suspend_and_resume():
    client = FakeFluxClient([flux_obj("Kustomization", "apps", ready="True", handled=OLD)], controller=handles())
    svc = flux_service.FluxService(client)
    first = svc.set_suspended("Kustomization", "flux-system", "apps", True)
    again = svc.set_suspended("Kustomization", "flux-system", "apps", True)
    assert first["changed"] is True and again["changed"] is False and len(client.patches) == 1
    assert client.patches[0][3] == {"spec": {"suspend": True}}
    resumed = svc.set_suspended("Kustomization", "flux-system", "apps", False)
    assert client.patches[1][3]["spec"] == {"suspend": False}
    assert resumed["ready"] is True and resumed["last_handled_reconcile_at"] == resumed["token"]


def test_info_lists_rows_like_flux_get():
    client = FakeFluxClient([
        flux_obj("HelmRelease", "app", "staging", ready="False", handled=OLD, spec={"suspend": True}),
        flux_obj("GitRepository", "flux-system", ready="True", status={"artifact": {"revision": "main@sha1:1"}}),
    ])
    import datetime
    now = datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.timezone.utc)
    rows = flux_service.FluxService(client).info(namespace=None, now=now)
    assert [(r["kind"], r["name"]) for r in rows] == [("GitRepository", "flux-system"), ("HelmRelease", "app")]
    assert rows[0]["revision"] == "main@sha1:1" and rows[0]["ready"] is True and rows[0]["age"] == 60
    assert rows[1]["suspended"] is True and rows[1]["message"] == "chart values are wrong"
    assert rows[1]["last_handled_reconcile_at"] == OLD
    only = flux_service.FluxService(client).info("hr", "staging")
    assert [r["name"] for r in only] == ["app"]
    assert client.patches == []
