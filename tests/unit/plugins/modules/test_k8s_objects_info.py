# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_objects_info through main() and read_objects with a fake client: grouping, keys, not-served kinds,
optional 403, errors naming the kind and the namespace, check mode."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
from ansible_collections.supertodo.platform.plugins.module_utils.kube.objects import ObjectsReadError, read_objects
from ansible_collections.supertodo.platform.plugins.modules import k8s_objects_info


class FakeClient:
    """What KubeClient offers the reader: get/list by apiVersion and kind, and a request counter."""

    def __init__(self, store, not_served=(), forbidden=(), broken=()):
        self.store, self.not_served, self.forbidden, self.broken = store, set(not_served), set(forbidden), set(broken)
        self.requests = 0
        self.calls = []

    def _check(self, api_version, kind, namespace):
        self.requests += 1
        if kind in self.not_served:
            raise ApiError("%s is not served by the API server (is its CRD installed?)" % api_version, 404)
        if kind in self.forbidden:
            raise ApiError("GET /apis/x: 403 %s is forbidden" % kind.lower(), 403)
        if kind in self.broken:
            raise ApiError("GET /apis/x: 500 etcdserver: request timed out", 500)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.calls.append(("list", kind, namespace))
        self._check(api_version, kind, namespace)
        return {"items": [dict(o) for o in self.store.get((kind, namespace), [])]}

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, namespace, name))
        self._check(api_version, kind, namespace)
        for obj in self.store.get((kind, namespace), []):
            if obj["metadata"]["name"] == name:
                return dict(obj)
        return None


def _obj(name, managed=True):
    meta = {"name": name}
    if managed:
        meta["managedFields"] = [{"manager": "kubectl"}]
    return {"metadata": meta}


STORE = {
    ("Namespace", None): [_obj("staging"), _obj("production")],
    ("Deployment", "staging"): [_obj("super-todo")],
    ("ConfigMap", "production"): [{"metadata": {"name": "supertodo-promotions"}, "data": {"last": "{}"}}],
}
RESOURCES = [
    {"api_version": "v1", "kind": "Namespace", "name": "staging"},
    {"api_version": "apps/v1", "kind": "Deployment"},
    {"api_version": "monitoring.coreos.com/v1", "kind": "ServiceMonitor"},
    {"api_version": "v1", "kind": "ConfigMap", "name": "supertodo-promotions", "namespace": "production", "key": "promotion"},
    {"api_version": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "namespace": "flux-system",
     "key": "kustomizations", "optional": True},
]


def test_reads_every_entry_grouped_by_key():
    client = FakeClient(STORE, not_served={"ServiceMonitor"}, forbidden={"Kustomization"})
    res = read_objects(client, RESOURCES, "staging")
    assert [o["metadata"]["name"] for o in res["objects"]["Namespace"]] == ["staging"]
    assert res["objects"]["Deployment"][0] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                               "metadata": {"name": "super-todo"}}  # managedFields left out
    assert res["objects"]["promotion"][0]["data"] == {"last": "{}"}
    assert res["objects"]["ServiceMonitor"] == [] and res["objects"]["kustomizations"] == []
    assert res["not_served"] == ["monitoring.coreos.com/v1 ServiceMonitor in namespace staging"]
    assert res["forbidden"][0].startswith("kustomize.toolkit.fluxcd.io/v1 Kustomization in namespace flux-system: ")
    assert res["requests"] == 5
    # the Namespace is read cluster-wide by name, the rest in their namespace
    assert client.calls[0] == ("get", "Namespace", None, "staging")
    assert ("list", "Deployment", "staging") in client.calls


def test_managed_fields_kept_when_asked():
    res = read_objects(FakeClient(STORE), RESOURCES[1:2], "staging", drop_managed_fields=False)
    assert res["objects"]["Deployment"][0]["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def test_forbidden_without_optional_names_the_kind_and_namespace():
    with pytest.raises(ObjectsReadError, match=r"cannot read apps/v1 Deployment in namespace staging: .*403"):
        read_objects(FakeClient(STORE, forbidden={"Deployment"}), RESOURCES, "staging")


def test_server_error_names_the_kind_and_cause():
    with pytest.raises(ObjectsReadError, match="cannot read v1 ConfigMap supertodo-promotions in namespace production: "
                                               ".*etcdserver: request timed out"):
        read_objects(FakeClient(STORE, broken={"ConfigMap"}), RESOURCES, "staging")


def _run(capsys, args):
    with patch_module_args(dict(args, host="https://127.0.0.1:1")):
        with pytest.raises(SystemExit):
            k8s_objects_info.main()
    return json.loads(capsys.readouterr().out)


def test_module_returns_objects_unchanged_in_check_mode(capsys, monkeypatch):
    client = FakeClient(STORE, not_served={"ServiceMonitor"})
    monkeypatch.setattr(k8s_objects_info, "KubeClient", lambda params: client)
    res = _run(capsys, {"namespace": "staging", "resources": RESOURCES, "_ansible_check_mode": True})
    assert res["changed"] is False and "failed" not in res
    assert res["objects"]["Deployment"][0]["metadata"]["name"] == "super-todo"
    assert res["not_served"] and res["forbidden"] == [] and res["seconds"] >= 0


def test_module_failure_names_the_resource(capsys, monkeypatch):
    monkeypatch.setattr(k8s_objects_info, "KubeClient", lambda params: FakeClient(STORE, broken={"Deployment"}))
    res = _run(capsys, {"namespace": "staging", "resources": RESOURCES})
    assert res["failed"] is True
    assert res["msg"].startswith("cannot read apps/v1 Deployment in namespace staging: ")


def test_module_rejects_an_entry_without_kind(capsys, monkeypatch):
    monkeypatch.setattr(k8s_objects_info, "KubeClient", lambda params: FakeClient(STORE))
    res = _run(capsys, {"namespace": "staging", "resources": [{"api_version": "v1"}]})
    assert res["failed"] is True and "kind" in res["msg"]
