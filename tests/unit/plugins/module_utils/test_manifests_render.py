# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering the GitOps tree: files per path, no Secrets, Flux's layout (a kustomization.yaml in every folder a
Flux Kustomization points at, each file reached by exactly one), kubectl kustomize builds each such folder."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import RenderFailed
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.render import HEADER, Renderer
from manifests_fakes import CHART_DIR, configmap, helmrelease, namespace, secret

COPIES = {CHART_DIR: "charts/super-todo"}


def flux_ks(name, path, depends_on=()):
    spec = {"interval": "10m", "path": path, "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec}


def _flat(env):
    return [
        {"path": "namespaces/%s-namespace.yaml" % env, "object": configmap("c", env)},
        {"path": "namespaces/%s-namespace.yaml" % env, "object": namespace(env)},
        {"path": "secrets/x.yaml", "secret": True, "object": secret(ns=env, password="c3VwZXItc2VjcmV0LXZhbHVl")},
    ]


def _flux(env, chart="./flux-cd/charts/super-todo"):
    cluster = "clusters/my-cluster/super-todo-%s.yaml" % env
    hr = helmrelease(chart=chart)
    hr["metadata"]["namespace"] = env
    return [
        {"path": "namespaces/%s/namespace.yaml" % env, "object": namespace(env)},
        {"path": "namespaces/%s/namespace.yaml" % env, "object": configmap("c", env)},
        {"path": "infrastructure/postgres/helmrepository.yaml", "object": configmap("repo", "flux-system")},
        {"path": "infrastructure/postgres/%s/helmrelease.yaml" % env, "object": configmap("pg", env)},
        {"path": "apps/super-todo/%s/helmrelease.yaml" % env, "object": hr},
        {"path": "secrets/x.yaml", "secret": True, "object": secret(ns=env)},
        {"path": "clusters/my-cluster/super-todo-sources.yaml",
         "object": flux_ks("super-todo-sources", "./flux-cd/infrastructure")},
        {"path": cluster, "object": flux_ks("super-todo-%s-namespaces" % env, "./flux-cd/namespaces/%s" % env)},
        {"path": cluster, "object": flux_ks("super-todo-%s-postgres" % env, "./flux-cd/infrastructure/postgres/%s" % env,
                                            ["super-todo-%s-namespaces" % env])},
        {"path": cluster, "object": flux_ks("super-todo-%s" % env, "./flux-cd/apps/super-todo/%s" % env,
                                            ["super-todo-%s-postgres" % env])},
    ]


def _read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as fh:
        return fh.read()


def _listing(root, rel_dir):
    return yaml.safe_load(_read(root, os.path.join(rel_dir, "kustomization.yaml")))["resources"]


def _kustomizations(root):
    out = set()
    for dirpath, _d, fnames in os.walk(root):
        if "kustomization.yaml" in fnames:
            out.add(os.path.relpath(dirpath, root))
    return out


def test_render_writes_files_in_kind_order_without_secrets(tmp_path):
    r = Renderer(str(tmp_path))
    files = r.render(_flat("staging"), COPIES)
    assert "namespaces/staging-namespace.yaml" in files
    docs = list(yaml.safe_load_all(_read(tmp_path, "namespaces/staging-namespace.yaml")))
    assert [d["kind"] for d in docs] == ["Namespace", "ConfigMap"]
    assert not (tmp_path / "secrets").exists()
    for dirpath, _d, fnames in os.walk(tmp_path):
        for f in fnames:
            text = open(os.path.join(dirpath, f), "rb").read()
            assert b"c3VwZXItc2VjcmV0LXZhbHVl" not in text and b"super-secret-value" not in text
    assert (tmp_path / "charts/super-todo/Chart.yaml").read_bytes() == open(os.path.join(CHART_DIR, "Chart.yaml"), "rb").read()
    # no Flux Kustomization: only the folders holding manifests get a kustomization.yaml; none at the root
    assert _kustomizations(tmp_path) == {"namespaces"}


def test_second_render_changes_nothing_and_check_mode_writes_nothing(tmp_path):
    Renderer(str(tmp_path)).render(_flat("staging"), COPIES)
    assert Renderer(str(tmp_path)).render(_flat("staging"), COPIES) == []
    check = Renderer(str(tmp_path), check_mode=True)
    changed = check.render(_flat("production"), COPIES)
    assert "namespaces/production-namespace.yaml" in changed and "namespaces/kustomization.yaml" in changed
    assert not (tmp_path / "namespaces/production-namespace.yaml").exists()
    assert "production-namespace.yaml" not in _read(tmp_path, "namespaces/kustomization.yaml")


def test_flux_layout_every_file_reached_by_exactly_one_kustomization(tmp_path):
    Renderer(str(tmp_path), git_path="flux-cd").render(_flux("staging"), COPIES)
    assert _kustomizations(tmp_path) == {"clusters/my-cluster", "infrastructure", "namespaces/staging",
                                         "infrastructure/postgres/staging", "apps/super-todo/staging"}
    assert _listing(tmp_path, "infrastructure") == ["postgres/helmrepository.yaml"]
    assert _listing(tmp_path, "clusters/my-cluster") == ["super-todo-sources.yaml", "super-todo-staging.yaml"]
    assert _listing(tmp_path, "namespaces/staging") == ["namespace.yaml"]


def test_two_environments_merge_and_kustomize_builds_every_folder(tmp_path):
    Renderer(str(tmp_path), git_path="flux-cd").render(_flux("staging"), COPIES)
    staging_before = _read(tmp_path, "apps/super-todo/staging/helmrelease.yaml")
    changed = Renderer(str(tmp_path), git_path="flux-cd").render(_flux("production"), COPIES)
    assert not any("staging" in rel for rel in changed)
    assert _read(tmp_path, "apps/super-todo/staging/helmrelease.yaml") == staging_before
    assert _listing(tmp_path, "clusters/my-cluster") == ["super-todo-production.yaml", "super-todo-sources.yaml",
                                                         "super-todo-staging.yaml"]
    # rendering staging again (its Kustomizations are in its own file, production's are read from disk) changes nothing
    assert Renderer(str(tmp_path), git_path="flux-cd").render(_flux("staging"), COPIES) == []
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not on PATH (source tools/env.sh)")
    seen = []
    for folder in sorted(_kustomizations(tmp_path)):
        out = subprocess.run([kubectl, "kustomize", str(tmp_path / folder)], capture_output=True, text=True, check=True)
        seen.extend((d["kind"], (d["metadata"].get("namespace") or ""), d["metadata"]["name"])
                    for d in yaml.safe_load_all(out.stdout) if d)
    assert len(seen) == len(set(seen)) == 2 * 7 + 2, sorted(seen)


def test_a_file_no_kustomization_reaches_is_refused_before_writing(tmp_path):
    entries = _flux("staging") + [{"path": "apps/other/x.yaml", "object": configmap("x", "staging")}]
    with pytest.raises(RenderFailed, match=r"apps/other/x.yaml: not under any folder a Flux Kustomization"):
        Renderer(str(tmp_path), git_path="flux-cd").render(entries, COPIES)
    assert not any(tmp_path.iterdir())


def test_kustomization_path_outside_the_tree_is_refused(tmp_path):
    entries = _flux("staging")
    entries[-1]["object"]["spec"]["path"] = "./apps/super-todo/staging"
    with pytest.raises(RenderFailed, match=r"Kustomization flux-system/super-todo-staging .*spec.path ./apps/super-todo/"
                                           r"staging is not inside the tree, which is flux-cd"):
        Renderer(str(tmp_path), git_path="flux-cd").render(entries, COPIES)


def test_chart_path_must_be_where_the_tree_holds_the_chart(tmp_path):
    with pytest.raises(RenderFailed, match=r"HelmRelease staging/super-todo .*spec.chart.spec.chart ./charts/super-todo "
                                           r"is not a chart of the tree .*./flux-cd/charts/super-todo"):
        Renderer(str(tmp_path), git_path="flux-cd").render(_flux("staging", chart="./charts/super-todo"), COPIES)
    assert not any(tmp_path.iterdir())


def test_owned_files_no_longer_produced_and_stale_kustomizations_are_removed(tmp_path):
    # an older render: flat namespaces file and a root kustomization.yaml listing everything
    (tmp_path / "namespaces").mkdir()
    (tmp_path / "namespaces/staging-namespace.yaml").write_text(HEADER + "---\n" + yaml.safe_dump(namespace("staging")))
    (tmp_path / "kustomization.yaml").write_text(HEADER + "resources: [namespaces]\n")
    (tmp_path / "README.yaml").write_text("kept: true\n")  # not ours: left alone
    entries = _flux("staging") + [{"path": "infrastructure/postgres/staging/objectstore.yaml",
                                   "object": configmap("store", "staging")}]
    owned = ["namespaces/staging-namespace.yaml", "namespaces/staging", "infrastructure/postgres/staging"]
    r = Renderer(str(tmp_path), git_path="flux-cd", owned=owned)
    r.render(entries, COPIES)
    assert sorted(r.removed_files) == ["kustomization.yaml", "namespaces/staging-namespace.yaml"]
    assert not (tmp_path / "kustomization.yaml").exists() and (tmp_path / "README.yaml").read_text() == "kept: true\n"
    r = Renderer(str(tmp_path), git_path="flux-cd", owned=owned)
    r.render(_flux("staging"), COPIES)
    assert r.removed_files == ["infrastructure/postgres/staging/objectstore.yaml"]
    assert _listing(tmp_path, "infrastructure/postgres/staging") == ["helmrelease.yaml"]


def test_manifest_paths_under_charts_or_named_kustomization_are_refused(tmp_path):
    with pytest.raises(RenderFailed, match="charts"):
        Renderer(str(tmp_path)).render([{"path": "charts/x.yaml", "object": namespace()}])


def test_the_bootstrap_folder_is_listed_as_a_folder_and_left_alone(tmp_path):
    # flux bootstrap --path=flux-cd/clusters/my-cluster commits clusters/my-cluster/flux-system/ with its own
    # kustomization.yaml: the cluster folder must keep building it (else Flux prunes itself)
    boot = tmp_path / "clusters/my-cluster/flux-system"
    boot.mkdir(parents=True)
    (boot / "gotk-sync.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "1m", "url": "http://127.0.0.1/x.git", "ref": {"branch": "main"}}},
        flux_ks("flux-system", "./flux-cd/clusters/my-cluster")]))
    kust = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [gotk-sync.yaml]\n"
    (boot / "kustomization.yaml").write_text(kust)
    Renderer(str(tmp_path), git_path="flux-cd").render(_flux("staging"), COPIES)
    assert _listing(tmp_path, "clusters/my-cluster") == ["flux-system", "super-todo-sources.yaml", "super-todo-staging.yaml"]
    assert (boot / "kustomization.yaml").read_text() == kust
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not on PATH (source tools/env.sh)")
    out = subprocess.run([kubectl, "kustomize", str(tmp_path / "clusters/my-cluster")], capture_output=True, text=True,
                         check=True).stdout
    names = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d)
    assert ("GitRepository", "flux-system") in names and ("Kustomization", "flux-system") in names
    assert ("Kustomization", "super-todo-staging") in names
