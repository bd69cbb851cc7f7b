# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The producing roles' manifest_entries filter (plugins/filter/manifests.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "manifests.py"
_spec = importlib.util.spec_from_file_location("manifests_filter", PLUGIN)
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)


def obj(kind, name):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}


def test_one_path_keeps_the_order_and_skips_empty_documents():
    objects = [obj("Namespace", "a"), None, obj("NetworkPolicy", "b"), obj("ServiceAccount", "c")]
    sources = {"NetworkPolicy": {"spec": "namespace_network_policy"}}
    entries = mf.manifest_entries(objects, "ns/a.yaml", sources)
    assert [e["object"]["metadata"]["name"] for e in entries] == ["a", "b", "c"]
    assert {e["path"] for e in entries} == {"ns/a.yaml"}
    assert entries[1]["sources"] == {"spec": "namespace_network_policy"}
    assert "sources" not in entries[0] and "secret" not in entries[0]


def test_path_by_kind_and_per_object():
    objects = [obj("ObjectStore", "o"), obj("CronJob", "c")]
    entries = mf.manifest_entries(objects, {"ObjectStore": "b/o.yaml", "CronJob": "b/c.yaml"})
    assert [e["path"] for e in entries] == ["b/o.yaml", "b/c.yaml"]
    entries = mf.manifest_entries([None] + objects, ["x.yaml", "y.yaml"])
    assert [e["path"] for e in entries] == ["x.yaml", "y.yaml"]


def test_secret_entries_are_marked():
    entries = mf.manifest_entries([obj("Secret", "s")], ["secrets/s.yaml"], secret=True)
    assert entries == [{"path": "secrets/s.yaml", "secret": True, "object": obj("Secret", "s")}]


@pytest.mark.parametrize("objects,path,message", [
    ([obj("CronJob", "c")], {"ObjectStore": "o.yaml"}, "no path for kind CronJob (object c)"),
    ([obj("A", "a"), obj("B", "b")], ["a.yaml"], "object 1 has none"),
    (["text"], "a.yaml", "object 0 is a str"),
    ("text", "a.yaml", "expects a list of objects"),
])
def test_bad_input_is_named(objects, path, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mf.manifest_entries(objects, path)


def test_refs_of_one_kind_in_one_namespace_in_order():
    def entry(kind, name, namespace):
        return {"path": "p.yaml", "object": {"kind": kind, "metadata": {"name": name, "namespace": namespace}}}

    entries = [entry("HelmRelease", "postgres-production", "production"), entry("HelmRepository", "bitnami", "production"),
               entry("HelmRelease", "other", "flux-system"), entry("HelmRelease", "super-todo", "production")]
    assert mf.manifest_refs(entries, "HelmRelease", "production") == [
        {"kind": "HelmRelease", "name": "postgres-production", "namespace": "production"},
        {"kind": "HelmRelease", "name": "super-todo", "namespace": "production"}]
    names = [ref["name"] for ref in mf.manifest_refs(entries, "HelmRelease")]
    assert names == ["postgres-production", "other", "super-todo"]
    assert mf.manifest_refs(entries, "Kustomization", "production") == []


@pytest.mark.parametrize("entries,message", [("text", "expects the manifest entries"), ([{"path": "p"}], "entry 0 has no object")])
def test_refs_bad_input_is_named(entries, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mf.manifest_refs(entries, "HelmRelease")


def test_refs_of_one_api_group():
    entries = [{"path": "a", "object": {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                        "metadata": {"name": "local"}}},
               {"path": "b", "object": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                        "metadata": {"name": "staging-apps", "namespace": "flux-system"}}}]
    assert mf.manifest_refs(entries, "Kustomization", group="kustomize.toolkit.fluxcd.io") == [
        {"kind": "Kustomization", "name": "staging-apps", "namespace": "flux-system"}]
    assert len(mf.manifest_refs(entries, "Kustomization")) == 2
