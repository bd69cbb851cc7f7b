# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline validation: kubernetes-validate strict, CRD schemas (served versions, undeclared fields), chart values."""

from __future__ import annotations

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import Validator, undeclared_fields
from manifests_fakes import CHART_DIR, configmap, gitrepository, helmrelease, namespace, schema_dir_or_skip


@pytest.fixture(scope="module")
def validator():
    return Validator(schema_dir_or_skip(), {"super-todo": CHART_DIR})


def _problems(validator, obj):
    return validator.problems([{"path": "x.yaml", "object": obj}])


def test_valid_builtin_and_custom_objects_pass(validator):
    assert _problems(validator, namespace()) == []
    assert _problems(validator, configmap()) == []
    assert _problems(validator, gitrepository()) == []


def test_builtin_unknown_field_is_refused_in_strict_mode(validator):
    obj = configmap()
    obj["spec"] = {"foo": 1}
    problems = _problems(validator, obj)
    assert len(problems) == 1 and "ConfigMap demo/cfg" in problems[0] and "spec" in problems[0]


def test_builtin_wrong_type_names_the_field(validator):
    obj = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "demo"},
           "spec": {"hard": "lots"}}
    problems = _problems(validator, obj)
    assert problems and "spec.hard" in problems[0]


def test_kind_not_in_current_kubernetes_is_refused(validator):
    obj = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "d"},
           "spec": {"minAvailable": 1}}
    assert "is not a Kubernetes" in _problems(validator, obj)[0]


def test_crd_unknown_field_is_reported_with_its_path(validator):
    problems = _problems(validator, gitrepository(ref={"branch": "main", "brunch": "x"}))
    assert len(problems) == 1
    assert "spec.ref.brunch" in problems[0] and "not declared" in problems[0]


def test_crd_required_field_and_type(validator):
    obj = gitrepository()
    del obj["spec"]["url"]
    obj["spec"]["interval"] = 5
    text = "\n".join(_problems(validator, obj))
    assert "'url' is a required property" in text
    assert "spec.interval" in text


def test_unserved_api_version_is_refused(validator):
    obj = gitrepository()
    obj["apiVersion"] = "source.toolkit.fluxcd.io/v1beta2"
    assert "not served" in _problems(validator, obj)[0]


def test_unknown_custom_group_is_refused(validator):
    obj = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "no CRD" in _problems(validator, obj)[0]


def test_helmrelease_values_checked_against_our_chart_schema(validator):
    good = helmrelease(values={"image": {"repository": "r", "tag": "v1"},
                               "database": {"host": "h", "port": 5432, "name": "n", "existingSecret": "pg"},
                               "redis": {"host": "r", "port": 6379, "existingSecret": "rd"}})
    assert _problems(validator, good) == []
    bad = helmrelease(values={"image": {"repository": "r", "tag": "v1"}, "replicaCount": "two",
                              "database": {"host": "h", "port": 5432, "name": "n", "existingSecret": "pg",
                                           "password": "x"},
                              "redis": {"host": "r", "port": 6379, "existingSecret": "rd"}})
    text = "\n".join(_problems(validator, bad))
    assert "spec.values.replicaCount" in text
    assert "spec.values.database" in text and "password" in text


def test_helmrelease_values_checked_against_upstream_chart_schema(validator):
    bad = helmrelease(chart="redis", values={"auth": {"enabled": "yes"}})
    text = "\n".join(_problems(validator, bad))
    assert "spec.values.auth.enabled" in text and "chart redis" in text
    assert _problems(validator, helmrelease(chart="redis", values={"auth": {"enabled": True}})) == []


def test_chart_without_schema_is_not_checked(validator):
    assert _problems(validator, helmrelease(chart="redis-cluster", values={"anything": 1})) == []


def test_undeclared_fields_walk():
    schema = {"type": "object", "properties": {
        "a": {"type": "object", "properties": {"b": {"type": "string"}}},
        "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "l": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
    }}
    value = {"a": {"b": "1", "c": 2}, "m": {"k": {"x": 1, "y": 2}}, "free": {"z": 1}, "l": [{"n": "a"}, {"q": 1}]}
    assert sorted(undeclared_fields(value, schema)) == ["a.c", "l[1].q", "m.k.y"]


def test_problems_name_the_inventory_variable_behind_the_field(validator):
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import source_variable
    entry = {"path": "x.yaml", "object": helmrelease(values={"replicaCount": "two"}),
             "sources": {"spec.values": "whole_values", "spec.values.replicaCount": "super_todo_replicas"}}
    text = "\n".join(validator.problems([entry]))
    assert "[inventory variable super_todo_replicas]" in text
    assert source_variable("spec.values.replicaCountX: bad", {"spec.values.replicaCount": "v"}) is None
    assert source_variable("spec.values.a[0]: bad", {"spec.values.a": "v"}) == "v"


# -- without a schema dir: the cluster's CRDs, else a warning --------------------------------------------------
def _crd_docs(schema_dir):
    import glob
    import os

    import yaml
    docs = []
    for fname in sorted(glob.glob(os.path.join(schema_dir, "crds", "**", "*.y*ml"), recursive=True)):
        with open(fname, encoding="utf-8") as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d and d.get("kind") == "CustomResourceDefinition")
    return docs


def test_without_schema_dir_custom_resources_are_checked_against_the_loaded_crds():
    docs = _crd_docs(schema_dir_or_skip())
    calls = []

    def loader():
        calls.append(1)
        return docs

    v = Validator(None, {"super-todo": CHART_DIR}, crd_loader=loader)
    problems = _problems(v, gitrepository(ref={"branch": "main", "brunch": "x"}))
    assert len(problems) == 1 and "spec.ref.brunch" in problems[0]
    assert _problems(v, gitrepository()) == []
    obj = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "no CRD for example.io/v1 Widget in the CRDs the cluster serves" in _problems(v, obj)[0]
    assert calls == [1]
    assert v.warnings == []


def test_without_schema_dir_or_cluster_custom_resources_pass_with_one_warning_naming_the_kinds():
    v = Validator(None, {"super-todo": CHART_DIR})
    assert _problems(v, gitrepository(ref={"branch": "main", "brunch": "x"})) == []
    assert _problems(v, helmrelease(chart="redis", values={"auth": {"enabled": "yes"}})) == []
    # built-in kinds are still checked offline, and our own chart's values against its own schema
    bad = configmap()
    bad["spec"] = {"foo": 1}
    assert _problems(v, bad)
    assert "spec.values.replicaCount" in "\n".join(_problems(v, helmrelease(values={"replicaCount": "two"})))
    warnings = v.warnings
    assert len(warnings) == 2
    assert "source.toolkit.fluxcd.io/v1 GitRepository" in warnings[0]
    assert "helm.toolkit.fluxcd.io/v2 HelmRelease" in warnings[0]
    assert "set supertodo_schema_dir" in warnings[0]
    assert warnings[1].endswith(": redis")


def test_unreadable_cluster_crds_leave_custom_resources_unchecked_with_the_cause():
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import CrdsUnavailable

    def loader():
        raise CrdsUnavailable("the cluster's CRDs cannot be read: 403 forbidden")

    v = Validator("", {}, crd_loader=loader)
    assert _problems(v, gitrepository()) == []
    assert "403 forbidden" in v.warnings[0] and "GitRepository" in v.warnings[0]


def test_with_schema_dir_nothing_is_left_unchecked(validator):
    _problems(validator, gitrepository())
    _problems(validator, helmrelease(chart="redis-cluster", values={}))
    assert validator.warnings == []


def test_only_the_crd_files_of_the_objects_groups_are_parsed(tmp_path):
    """A CRD file of a group no object uses is not parsed (broken YAML there goes unnoticed); once an object of
    that group comes, its file is read and its problem reported."""
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "a-widgets.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.a.example.com}\n"
        "spec:\n  group: a.example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n"
        "  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n"
        "        openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {size: {type: integer}}}}}\n")
    (crds / "b-broken.yaml").write_text("spec:\n  group: b.example.com\n  names: [unclosed\n")
    validator = Validator(str(tmp_path))
    widget = {"apiVersion": "a.example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
              "spec": {"size": "big"}}
    problems = _problems(validator, widget)
    assert len(problems) == 1 and "spec.size" in problems[0]
    assert _problems(validator, dict(widget, spec={"size": 3})) == []
    other = {"apiVersion": "b.example.com/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "n"}}
    with pytest.raises(Exception, match="expected|flow"):
        _problems(validator, other)
