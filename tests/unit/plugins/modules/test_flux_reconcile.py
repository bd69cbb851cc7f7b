# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""flux_reconcile and flux_info end to end through main() with a fake client: results, check/diff mode, failures."""

from __future__ import annotations

import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))

from ansible_collections.supertodo.platform.plugins.modules import flux_info, flux_reconcile  # noqa: E402
from flux_fakes import FakeFluxClient, flux_obj, handles  # noqa: E402

OLD = "2026-11-27T08:00:00Z"


def _run(capsys, module, args):
    with patch_module_args(dict(args, host="https://127.0.0.1:1")):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def fake(monkeypatch):
    client = FakeFluxClient([
        flux_obj("HelmRelease", "super-todo", "staging", ready="True", handled=OLD,
                 spec={"dependsOn": [{"name": "postgres-staging"}]}),
        flux_obj("HelmRelease", "postgres-staging", "staging", ready="True", handled=OLD),
    ], controller=handles(extra_fields=("lastHandledForceAt",)))
    monkeypatch.setattr(flux_reconcile, "KubeClient", lambda params: client)
    monkeypatch.setattr(flux_info, "KubeClient", lambda params: client)
    return client


def test_single_object_returns_token_revision_conditions(capsys, fake):
    res = _run(capsys, flux_reconcile, {"kind": "hr", "name": "super-todo", "namespace": "staging", "force": True})
    assert res["changed"] is True and res["kind"] == "HelmRelease"
    assert res["conditions"][0]["status"] == "True" and res["token"] != OLD
    annotations = fake.patches[0][3]["metadata"]["annotations"]
    assert annotations["reconcile.fluxcd.io/forceAt"] == annotations["reconcile.fluxcd.io/requestedAt"] == res["token"]
    assert "diff" not in res and res["duration"] >= 0


def test_check_and_diff_mode(capsys, fake):
    res = _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging",
                                        "_ansible_check_mode": True, "_ansible_diff": True})
    assert fake.patches == [] and res["changed"] is True
    assert res["diff"]["after"]["metadata"]["annotations"] == {"reconcile.fluxcd.io/requestedAt": res["token"]}


def test_objects_in_dependency_order_in_one_task(capsys, fake):
    res = _run(capsys, flux_reconcile, {"namespace": "staging", "objects": [
        {"kind": "HelmRelease", "name": "super-todo"}, {"kind": "HelmRelease", "name": "postgres-staging"}]})
    assert [r["name"] for r in res["results"]] == ["postgres-staging", "super-todo"]
    assert all(r["ready"] for r in res["results"])


def test_failure_message_names_resource_and_cause(capsys, fake):
    fake.controller = handles(ready="False", message="values don't fit the schema")
    res = _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging"})
    assert res["failed"] is True and res["changed"] is True
    assert res["msg"] == "HelmRelease staging/super-todo reconcile failed: InstallFailed: values don't fit the schema"


def test_missing_object_fails_cleanly(capsys, fake):
    res = _run(capsys, flux_reconcile, {"kind": "ks", "name": "nope", "namespace": "staging"})
    assert res["failed"] is True and res["msg"] == "Kustomization staging/nope not found"


def test_info_never_patches(capsys, fake):
    res = _run(capsys, flux_info, {"kind": "HelmRelease", "namespace": "staging"})
    assert res["changed"] is False and fake.patches == []
    assert sorted(o["name"] for o in res["objects"]) == ["postgres-staging", "super-todo"]
    assert all(o["last_handled_reconcile_at"] == OLD for o in res["objects"])


def test_a_newer_request_handled_instead_of_ours_is_success(capsys, fake):
    # another client annotated the object after us; the controller handled only that newest request
    newer = "2999-01-01T00:00:00.5Z"
    fake.controller = handles(newer=newer)
    res = _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging"})
    assert res.get("failed") is not True, res.get("msg")
    assert res["ready"] is True and res["token"] != newer
    assert res["results"][0]["last_handled_reconcile_at"] == newer


@pytest.mark.parametrize("timeout", [-5, 0])
def test_timeout_must_be_positive_and_nothing_is_written(capsys, fake, timeout):
    res = _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging",
                                        "timeout": timeout})
    assert res["failed"] is True and res.get("changed") is not True
    assert res["msg"] == "timeout must be a positive number of seconds, got %d" % timeout
    res = _run(capsys, flux_reconcile, {"namespace": "staging", "state": "resumed", "timeout": timeout,
                                        "objects": [{"kind": "HelmRelease", "name": "super-todo"}]})
    assert res["failed"] is True and "timeout must be a positive" in res["msg"]
    assert fake.patches == []


def test_every_patch_carries_the_flux_cli_field_manager(capsys, fake):
    _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging"})
    _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging",
                                  "state": "suspended"})
    _run(capsys, flux_reconcile, {"kind": "HelmRelease", "name": "super-todo", "namespace": "staging",
                                  "state": "resumed"})
    assert len(fake.patches) == 3
    assert fake.patch_queries == [{"fieldManager": "flux-client-side-apply"}] * 3


def test_dependency_cycle_fails_before_any_patch(capsys, fake):
    fake.put(flux_obj("HelmRelease", "postgres-staging", "staging", ready="True", handled=OLD,
                      spec={"dependsOn": [{"name": "super-todo"}]}))
    res = _run(capsys, flux_reconcile, {"namespace": "staging", "objects": [
        {"kind": "HelmRelease", "name": "super-todo"}, {"kind": "HelmRelease", "name": "postgres-staging"}]})
    assert res["failed"] is True and fake.patches == []
    assert res["msg"] == ("dependsOn cycle: HelmRelease staging/super-todo -> HelmRelease staging/postgres-staging "
                          "-> HelmRelease staging/super-todo")
