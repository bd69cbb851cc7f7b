# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering the GitOps tree: files per path, no Secrets, kustomization.yaml files kubectl kustomize builds."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import RenderFailed
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.render import Renderer
from manifests_fakes import CHART_DIR, configmap, gitrepository, namespace, secret


def _entries(env):
    return [
        {"path": "namespaces/%s-namespace.yaml" % env, "object": configmap("c", env)},
        {"path": "namespaces/%s-namespace.yaml" % env, "object": namespace(env)},
        {"path": "secrets/x.yaml", "secret": True, "object": secret(ns=env, password="c3VwZXItc2VjcmV0LXZhbHVl")},
        {"path": "clusters/my-cluster/super-todo-helmchart.yaml", "object": gitrepository()},
    ]


def _read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as fh:
        return fh.read()


def test_render_writes_files_in_kind_order_without_secrets(tmp_path):
    r = Renderer(str(tmp_path))
    files = r.render(_entries("staging"), {CHART_DIR: "charts/super-todo"})
    assert "namespaces/staging-namespace.yaml" in files
    docs = list(yaml.safe_load_all(_read(tmp_path, "namespaces/staging-namespace.yaml")))
    assert [d["kind"] for d in docs] == ["Namespace", "ConfigMap"]
    assert not (tmp_path / "secrets").exists()
    for dirpath, _d, fnames in os.walk(tmp_path):
        for f in fnames:
            text = open(os.path.join(dirpath, f), "rb").read()
            assert b"c3VwZXItc2VjcmV0LXZhbHVl" not in text and b"super-secret-value" not in text
    assert (tmp_path / "charts/super-todo/Chart.yaml").read_bytes() == open(os.path.join(CHART_DIR, "Chart.yaml"), "rb").read()
    root = yaml.safe_load(_read(tmp_path, "kustomization.yaml"))
    assert root["resources"] == ["clusters", "namespaces"]


def test_second_render_changes_nothing_and_check_mode_writes_nothing(tmp_path):
    Renderer(str(tmp_path)).render(_entries("staging"), {CHART_DIR: "charts/super-todo"})
    assert Renderer(str(tmp_path)).render(_entries("staging"), {CHART_DIR: "charts/super-todo"}) == []
    check = Renderer(str(tmp_path), check_mode=True)
    changed = check.render(_entries("production"), {CHART_DIR: "charts/super-todo"})
    assert "namespaces/production-namespace.yaml" in changed and "namespaces/kustomization.yaml" in changed
    assert not (tmp_path / "namespaces/production-namespace.yaml").exists()
    assert "production-namespace.yaml" not in _read(tmp_path, "namespaces/kustomization.yaml")


def test_two_environments_give_the_whole_tree_and_kustomize_builds_it(tmp_path):
    Renderer(str(tmp_path)).render(_entries("staging"), {CHART_DIR: "charts/super-todo"})
    Renderer(str(tmp_path)).render(_entries("production"), {CHART_DIR: "charts/super-todo"})
    listing = yaml.safe_load(_read(tmp_path, "namespaces/kustomization.yaml"))["resources"]
    assert listing == ["production-namespace.yaml", "staging-namespace.yaml"]
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not on PATH (source tools/env.sh)")
    out = subprocess.run([kubectl, "kustomize", str(tmp_path)], capture_output=True, text=True, check=True).stdout
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d)
    assert kinds == [("ConfigMap", "c"), ("ConfigMap", "c"), ("GitRepository", "flux-system"),
                     ("Namespace", "production"), ("Namespace", "staging")]


def test_manifest_paths_under_charts_or_named_kustomization_are_refused(tmp_path):
    with pytest.raises(RenderFailed, match="charts"):
        Renderer(str(tmp_path)).render([{"path": "charts/x.yaml", "object": namespace()}])
