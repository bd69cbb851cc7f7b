# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply service: order, requests per object, changed from resourceVersions, check mode, prune detection."""

from __future__ import annotations

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.apply import Applier, dropped_fields
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import ApplyFailed, FieldsPruned
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import (
    REDACTED,
    order,
    redact,
    secret_values,
)
from manifests_fakes import FakeKube, configmap, gitrepository, namespace, secret


def _entries(*objs):
    return [{"path": "f.yaml", "object": o} for o in objs]


def test_order_follows_the_kind_list_and_is_stable():
    objs = [gitrepository(), configmap("b"), secret(), namespace(), configmap("a"),
            {"apiVersion": "x.io/v1", "kind": "Unknown", "metadata": {"name": "u"}}]
    kinds = [(e["object"]["kind"], e["object"]["metadata"]["name"]) for e in order(_entries(*objs))]
    assert kinds == [("Namespace", "demo"), ("Secret", "s"), ("ConfigMap", "b"), ("ConfigMap", "a"),
                     ("GitRepository", "flux-system"), ("Unknown", "u")]


def test_first_apply_creates_second_is_a_noop_with_two_requests_per_object():
    kube = FakeKube()
    applier = Applier(kube, "supertodo.platform")
    first = applier.apply(_entries(configmap(), namespace()))
    assert [r["action"] for r in first] == ["create", "create"]
    assert all(c[3]["fieldManager"] == "supertodo.platform" and "force" not in c[3]
               for c in kube.calls if c[0] == "PATCH")
    kube.requests = 0
    second = applier.apply(_entries(configmap(), namespace()))
    assert [r["action"] for r in second] == ["unchanged", "unchanged"]
    assert not any(r["changed"] for r in second)
    assert kube.requests == 4


def test_update_is_changed_only_when_the_resource_version_moves():
    kube = FakeKube()
    Applier(kube, "m").apply(_entries(configmap()))
    res = Applier(kube, "m").apply(_entries(configmap(data={"a": "2"})))
    assert res[0]["action"] == "update" and res[0]["changed"]
    assert res[0]["before"]["data"] == {"a": "1"} and res[0]["after"]["data"] == {"a": "2"}


def test_check_mode_uses_dry_run_and_stores_nothing():
    kube = FakeKube()
    Applier(kube, "m").apply(_entries(configmap()))
    rv = kube.store[("v1", "ConfigMap", "demo", "cfg")]["metadata"]["resourceVersion"]
    res = Applier(kube, "m", check_mode=True).apply(_entries(configmap(data={"a": "3"}), configmap("new")))
    assert [r["action"] for r in res] == ["update", "create"]
    assert all(c[3].get("dryRun") == "All" for c in kube.calls[-4:] if c[0] == "PATCH")
    assert kube.store[("v1", "ConfigMap", "demo", "cfg")]["metadata"]["resourceVersion"] == rv
    assert ("v1", "ConfigMap", "demo", "new") not in kube.store
    same = Applier(kube, "m", check_mode=True).apply(_entries(configmap()))
    assert same[0]["action"] == "unchanged"


def test_check_mode_predicts_objects_of_a_namespace_not_yet_created():
    kube = FakeKube(missing_namespaces=True)
    res = Applier(kube, "m", check_mode=True).apply(_entries(namespace(), configmap()))
    assert [r["action"] for r in res] == ["create", "create"]
    with pytest.raises(ApplyFailed, match="ConfigMap demo/cfg: server-side apply failed"):
        Applier(FakeKube(missing_namespaces=True), "m").apply(_entries(configmap()))


def test_pruned_field_fails_naming_object_and_field():
    kube = FakeKube(drop=["spec.ref"])
    with pytest.raises(FieldsPruned) as err:
        Applier(kube, "m").apply(_entries(gitrepository()))
    assert "GitRepository flux-system/flux-system" in str(err.value)
    assert "spec.ref" in str(err.value)


def test_dropped_fields_ignores_defaults_normalisation_and_empty_values():
    sent = {"spec": {"replicas": 1, "cpu": "1000m", "port": "80", "empty": {}, "none": None, "list": [],
                     "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}}
    kept = {"spec": {"replicas": 1, "cpu": "1", "port": 80, "defaulted": True,
                     "containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}
    assert dropped_fields(sent, kept) == []
    kept["spec"]["containers"][0].pop("image")
    kept["spec"]["containers"][0]["ports"] = []
    assert dropped_fields(sent, kept) == ["spec.containers[=name=a].image",
                                          "spec.containers[=name=a].ports[=containerPort=80]"]


def test_list_items_matched_by_key_not_position():
    sent = {"rules": [{"name": "b", "x": 1}]}
    kept = {"rules": [{"name": "a"}, {"name": "b", "x": 1}]}
    assert dropped_fields(sent, kept) == []


def test_secret_values_and_redaction():
    obj = secret(password="c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA=")
    obj["data"]["username"] = "YXBw"
    obj["stringData"] = {"token": "plain-token-value"}
    values = secret_values(obj)
    assert {"secret-value-1234567890", "c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA=", "plain-token-value"} <= values
    assert "app" not in values and "YXBw" not in values
    red = redact(obj)
    assert red["data"] == {"password": REDACTED, "username": REDACTED}
    assert red["stringData"] == {"token": REDACTED}
    assert obj["data"]["password"] != REDACTED


def test_a_created_custom_resource_is_applied_twice_to_settle_then_noop_costs_two():
    kube = FakeKube()
    res = Applier(kube, "m").apply(_entries(gitrepository()))
    assert res[0]["action"] == "create"
    assert [c[0] for c in kube.calls] == ["GET", "PATCH", "PATCH"]
    kube.calls, kube.requests = [], 0
    res = Applier(kube, "m").apply(_entries(gitrepository()))
    assert res[0]["action"] == "unchanged" and kube.requests == 2
    kube.calls = []
    Applier(kube, "m", check_mode=True).apply(_entries(gitrepository(interval="5m")))
    assert [c[0] for c in kube.calls] == ["GET", "PATCH"]


def test_server_side_apply_refusing_an_unknown_field_is_reported_as_such():
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError

    class Refusing(FakeKube):
        def patch(self, *args, **kwargs):
            raise ApiError("PATCH /x: 500 failed to create typed patch object: .spec.color: field not declared in schema", 500)

    with pytest.raises(FieldsPruned) as err:
        Applier(Refusing(), "m").apply(_entries(gitrepository()))
    assert "GitRepository flux-system/flux-system: the API server refused field(s) it does not know: spec.color" \
        in str(err.value)


class Shared(FakeKube):
    """The fake with one more field manager: ``owned`` maps (ConfigMap name, data key) to the manager owning it; an
    apply without force that changes such a key answers 409 as the API server does."""

    def __init__(self, owned, **kw):
        super().__init__(**kw)
        self.owned = owned

    def get(self, api_version, kind, name, namespace=None):
        obj = super().get(api_version, kind, name, namespace)
        if obj is not None:
            managers = sorted({m for (n, _k), m in self.owned.items() if n == name})
            obj["metadata"]["managedFields"] = [{"manager": "supertodo.platform", "operation": "Apply"}] + [
                {"manager": m, "operation": "Update", "fieldsV1": {"f:data": {}}} for m in managers] + [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}}]
        return obj

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", query=None, subresource=None):
        from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
        stored = self.store.get(self.key(api_version, kind, name, namespace)) or {}
        if stored and not (query or {}).get("force"):
            causes = [{"type": "FieldManagerConflict", "field": ".data.%s" % key,
                       "message": 'conflict with "%s" using v1: .data.%s' % (manager, key)}
                      for (n, key), manager in sorted(self.owned.items())
                      if n == name and (stored.get("data") or {}).get(key) != body["data"].get(key)]
            if causes:
                self.requests += 1
                self.calls.append(("PATCH", kind, name, dict(query or {})))
                raise ApiError("PATCH x: 409 Apply failed with %d conflicts" % len(causes), 409, "Conflict",
                               {"kind": "Status", "code": 409, "details": {"causes": causes}})
        return super().patch(api_version, kind, name, namespace, body, patch_type, query, subresource)


def test_a_conflict_fails_before_anything_is_written_naming_object_field_and_manager():
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import Conflicts
    kube = Shared({("b", "a"): "kubectl-edit"})
    Applier(kube, "supertodo.platform").apply(_entries(configmap("a"), configmap("b")))
    writes = [c for c in kube.calls if c[0] == "PATCH" and not c[3].get("dryRun")]
    kube.calls = []
    with pytest.raises(Conflicts) as err:
        # "a" comes first and would change: nothing is written, because "b" conflicts
        Applier(kube, "supertodo.platform").apply(_entries(configmap("a", data={"a": "9"}), configmap("b", data={"a": "2"})))
    assert "ConfigMap demo/b: .data.a owned by kubectl-edit" in str(err.value)
    assert err.value.partial == {"conflicts": [{"ref": "ConfigMap demo/b", "field": ".data.a", "manager": "kubectl-edit"}]}
    assert [c for c in kube.calls if c[0] == "PATCH" and not c[3].get("dryRun")] == []
    assert kube.store[("v1", "ConfigMap", "demo", "a")]["data"] == {"a": "1"} and len(writes) == 2


def test_force_takes_the_fields_over_and_lists_them():
    kube = Shared({("b", "a"): "kubectl-edit"})
    Applier(kube, "m").apply(_entries(configmap("b")))
    applier = Applier(kube, "m", force=True)
    res = applier.apply(_entries(configmap("b", data={"a": "2"})))
    assert res[0]["action"] == "update" and kube.store[("v1", "ConfigMap", "demo", "b")]["data"] == {"a": "2"}
    assert applier.taken == [{"ref": "ConfigMap demo/b", "field": ".data.a", "manager": "kubectl-edit"}]


def test_same_value_as_the_other_manager_is_no_conflict_and_sole_ownership_costs_no_dry_run():
    kube = Shared({("b", "a"): "kubectl-edit"})
    Applier(kube, "supertodo.platform").apply(_entries(configmap("a"), configmap("b")))
    kube.calls, kube.requests = [], 0
    res = Applier(kube, "supertodo.platform").apply(_entries(configmap("a"), configmap("b")))
    assert [r["action"] for r in res] == ["unchanged", "unchanged"]
    # a: GET + PATCH (only we and a status writer manage it); b: GET + dry run + PATCH
    assert kube.requests == 5
    assert [c[3].get("dryRun") for c in kube.calls if c[0] == "PATCH"] == ["All", None, None]


@pytest.mark.parametrize("body, message, expected", [
    # a cause per field (Kubernetes 1.20+): manager of an Update has its apiVersion, of an Apply none
    ({"details": {"causes": [{"type": "FieldManagerConflict", "message": 'conflict with "kubectl-edit" using v1',
                              "field": ".data.level"},
                             {"type": "FieldManagerConflict", "message": 'conflict with "kustomize-controller"',
                              "field": ".spec.chart.spec.sourceRef.name"}]}}, "",
     [(".data.level", "kubectl-edit"), (".spec.chart.spec.sourceRef.name", "kustomize-controller")]),
    # only the message: one conflict, then several of one manager
    (None, 'PATCH x: 409 Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.level',
     [(".data.level", "kubectl-edit")]),
    ({"message": 'Apply failed with 2 conflicts: conflicts with "helm-controller":\n- .spec.replicas\n- .spec.x'}, "",
     [(".spec.replicas", "helm-controller"), (".spec.x", "helm-controller")]),
])
def test_conflicts_are_read_from_the_answer(body, message, expected):
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.apply import conflicts_of
    found = conflicts_of(ApiError(message or "PATCH x: 409", 409, "Conflict", body))
    assert [(c["field"], c["manager"]) for c in found] == expected


def test_only_managers_of_fields_we_send_can_conflict():
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.apply import other_managers
    live = {"metadata": {"name": "super-todo", "managedFields": [
        {"manager": "supertodo.platform", "operation": "Apply", "fieldsV1": {"f:spec": {"f:values": {}}}},
        # flux_reconcile's request annotation and the token controller's secrets: nothing we send
        {"manager": "flux-client-side-apply", "operation": "Update",
         "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:reconcile.fluxcd.io/requestedAt": {}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:secrets": {".": {}, "k:{\"name\":\"t\"}": {}}}},
        {"manager": "helm-controller", "operation": "Update", "fieldsV1": {"f:status": {"f:conditions": {}}}},
        # a person's edit of a value we send, and of a list item we send
        {"manager": "kubectl-edit", "operation": "Apply", "fieldsV1": {"f:spec": {"f:values": {"f:replicaCount": {}}}}},
        {"manager": "kubectl-patch", "operation": "Update",
         "fieldsV1": {"f:spec": {"f:dependsOn": {"k:{\"name\":\"redis-staging\"}": {".": {}, "f:name": {}}}}}},
    ]}}
    sent = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "super-todo", "namespace": "staging", "labels": {"a": "b"}},
            "spec": {"values": {"replicaCount": 2}, "dependsOn": [{"name": "redis-staging"}]}}
    assert other_managers(live, "supertodo.platform", sent=sent) == ["kubectl-edit", "kubectl-patch"]
    assert other_managers(live, "supertodo.platform") == ["flux-client-side-apply", "kube-controller-manager",
                                                          "kubectl-edit", "kubectl-patch"]
