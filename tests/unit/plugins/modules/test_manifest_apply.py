# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest_apply module end to end with a fake client: results, check/diff mode, secrets never in output."""

from __future__ import annotations

import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))

from ansible_collections.supertodo.platform.plugins.module_utils.manifests import service  # noqa: E402
from ansible_collections.supertodo.platform.plugins.modules import manifest_apply  # noqa: E402
from manifests_fakes import FakeKube, configmap, gitrepository, namespace, schema_dir_or_skip, secret  # noqa: E402

PLAIN = "plain-secret-value-4242424242"
B64 = "cGxhaW4tc2VjcmV0LXZhbHVlLTQyNDI0MjQyNDI="


@pytest.fixture
def kube(monkeypatch):
    fake = FakeKube()
    monkeypatch.setattr(service, "KubeClient", lambda params: fake)
    return fake


def _run(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            manifest_apply.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def _args(objs, **extra):
    entries = [{"path": "f.yaml", "object": o} for o in objs]
    entries.append({"path": "s.yaml", "secret": True, "object": secret(password=B64)})
    args = {"manifests": entries, "schema_dir": schema_dir_or_skip(), "host": "https://127.0.0.1:1"}
    args.update(extra)
    return args


def test_apply_then_noop_and_no_secret_in_output(capsys, kube):
    result, raw = _run(capsys, _args([namespace(), configmap(), gitrepository()]))
    assert result["changed"] is True
    assert result["counts"] == {"create": 4, "update": 0, "unchanged": 0}
    assert [o["ref"] for o in result["objects"]] == ["Namespace demo", "Secret demo/s", "ConfigMap demo/cfg",
                                                     "GitRepository flux-system/flux-system"]
    assert PLAIN not in raw and B64 not in raw
    result, raw = _run(capsys, _args([namespace(), configmap(), gitrepository()]))
    assert result["changed"] is False and result["counts"]["unchanged"] == 4
    assert PLAIN not in raw and B64 not in raw


def test_check_and_diff_mode_change_nothing_and_redact(capsys, kube):
    _run(capsys, _args([namespace(), configmap()]))
    before = {k: v["metadata"]["resourceVersion"] for k, v in kube.store.items()}
    args = _args([namespace(), configmap(data={"a": "changed"})], _ansible_check_mode=True, _ansible_diff=True)
    args["manifests"][-1]["object"]["data"]["password"] = "bmV3LXBsYWluLXNlY3JldC12YWx1ZS03Nzc3Nzc="
    result, raw = _run(capsys, args)
    assert result["changed"] is True
    assert {k: v["metadata"]["resourceVersion"] for k, v in kube.store.items()} == before
    refs = [d["before_header"] for d in result["diff"]]
    assert refs == ["Secret demo/s", "ConfigMap demo/cfg"]
    assert "a: changed" in result["diff"][1]["after"]
    assert "<redacted>" in result["diff"][0]["before"]
    assert "password: <redacted, changed>" in result["diff"][0]["after"]
    assert "new-plain-secret-value-777777" not in raw and B64 not in raw


def test_invalid_object_fails_before_any_request(capsys, kube):
    bad = configmap()
    bad["spec"] = {"x": 1}
    result, dummy = _run(capsys, _args([namespace(), bad]))
    assert result["failed"] is True
    assert "ConfigMap demo/cfg" in result["msg"] and "nothing applied" in result["msg"]
    assert kube.requests == 0


def test_pruned_field_fails_with_the_field_path(capsys, monkeypatch):
    fake = FakeKube(drop=["spec.ref"])
    monkeypatch.setattr(service, "KubeClient", lambda params: fake)
    result, dummy = _run(capsys, _args([gitrepository()]))
    assert result["failed"] is True
    assert "GitRepository flux-system/flux-system" in result["msg"] and "spec.ref" in result["msg"]


def test_secrets_in_their_own_option_are_applied_in_kind_order_and_only_their_values_masked(capsys, kube):
    """The roles hand the Secrets over in ``secret_manifests`` (no_log): applied before what reads them, their
    values never printed, and the rest of the output (names, kinds, the namespace) still readable."""
    args = {"manifests": [{"path": "f.yaml", "object": o} for o in (namespace(), configmap())],
            "secret_manifests": [{"path": "secrets/s.yaml", "secret": True, "object": secret(password=B64)}],
            "schema_dir": schema_dir_or_skip(), "host": "https://127.0.0.1:1", "_ansible_diff": True}
    result, raw = _run(capsys, args)
    assert result["changed"] is True
    assert [o["ref"] for o in result["objects"]] == ["Namespace demo", "Secret demo/s", "ConfigMap demo/cfg"]
    assert kube.store and any(v["kind"] == "Secret" for v in kube.store.values())
    assert PLAIN not in raw and B64 not in raw
    assert "********" not in json.dumps(result["objects"])
    assert result["invocation"]["module_args"]["manifests"][0]["object"]["metadata"]["name"] == "demo"
    # a Secret that is not marked is still recognised by its kind
    args["secret_manifests"][0].pop("secret")
    result, raw = _run(capsys, args)
    assert result["changed"] is False and PLAIN not in raw and B64 not in raw


FLUX_OWNERS = {"api_version": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "namespace": "flux-system",
               "names": ["super-todo-staging", "super-todo-staging-redis"],
               "refusal": "staging is delivered by Flux: Kustomization(s) {objects} exist"}


def _kustomization(name, ns="flux-system"):
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns}, "spec": {"path": "./x", "prune": True}}


def test_refuse_present_fails_naming_the_found_objects_before_anything_is_written(capsys, kube):
    for name, ns in (("super-todo-staging-redis", "flux-system"), ("super-todo-staging", "flux-system"),
                     ("other", "flux-system"), ("super-todo-staging", "elsewhere")):
        obj = _kustomization(name, ns)
        kube.store[kube.key(obj["apiVersion"], obj["kind"], name, ns)] = obj
    result, dummy = _run(capsys, _args([namespace(), configmap()], refuse_present=[FLUX_OWNERS]))
    assert result["failed"] is True
    assert result["msg"] == ("staging is delivered by Flux: Kustomization(s) flux-system/super-todo-staging, "
                             "flux-system/super-todo-staging-redis exist; nothing was applied")
    assert not [c for c in kube.calls if c[0] == "PATCH"]
    # check mode refuses the same way
    result, dummy = _run(capsys, _args([namespace()], refuse_present=[FLUX_OWNERS], _ansible_check_mode=True))
    assert result["failed"] is True and "nothing was applied" in result["msg"]


def test_refuse_present_passes_when_none_exists_or_the_kind_is_not_served(capsys, kube):
    obj = _kustomization("other")
    kube.store[kube.key(obj["apiVersion"], obj["kind"], "other", "flux-system")] = obj
    result, dummy = _run(capsys, _args([namespace()], refuse_present=[FLUX_OWNERS]))
    assert result["changed"] is True and ("LIST", "Kustomization", "flux-system") in kube.calls
    kube.unserved.add("kustomize.toolkit.fluxcd.io/v1")
    result, dummy = _run(capsys, _args([namespace()], refuse_present=[FLUX_OWNERS]))
    assert "failed" not in result and result["changed"] is False


def test_refuse_present_names_what_it_could_not_read(capsys, kube, monkeypatch):
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError

    def unreachable(*args, **kwargs):
        raise ApiError("GET /apis/kustomize.toolkit.fluxcd.io/v1: API server https://127.0.0.1:1 unreachable")
    monkeypatch.setattr(kube, "list", unreachable)
    result, dummy = _run(capsys, _args([namespace()], refuse_present=[FLUX_OWNERS]))
    assert result["failed"] is True
    assert result["msg"].startswith("Kustomization objects in flux-system (super-todo-staging, super-todo-staging-redis)"
                                    ": cannot read them before applying: GET /apis/kustomize.toolkit.fluxcd.io/v1: "
                                    "API server https://127.0.0.1:1 unreachable")
    assert not [c for c in kube.calls if c[0] == "PATCH"]
