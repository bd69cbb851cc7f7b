# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Git side of the gitops delivery mode (roles/delivery/tasks/git.yml) with real git and a bare repository, no
cluster: the tree is committed with a message naming the environment and the app version, pushed, nothing secret is
committed, an unchanged tree makes no commit, a tag is created once and never moved."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SECRET_VALUE = "Zu8kQ2mX7pR4vN9wL3tB6cY1"


def git(cwd, *args):
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=str(cwd),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture()
def bare(tmp_path):
    bare = tmp_path / "repo.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "README.md").write_text("app\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return bare


def _entries(replicas="1"):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "staging"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "figures", "namespace": "staging"},
          "data": {"replicas": replicas}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-staging-auth", "namespace": "staging"},
              "type": "Opaque", "stringData": {"redis-password": SECRET_VALUE}}
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": "super-todo-staging-namespaces", "namespace": "flux-system"},
          "spec": {"interval": "10m", "path": "./flux-cd/namespaces/staging", "prune": True,
                   "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    return [{"path": "namespaces/staging/namespace.yaml", "object": ns},
            {"path": "namespaces/staging/namespace.yaml", "object": cm},
            {"path": "secrets/redis.yaml", "secret": True, "object": secret},
            {"path": "clusters/my-cluster/super-todo-staging.yaml", "object": ks}]


def run(tmp_path, bare, workdir="", **extra):
    out = tmp_path / "out.json"
    play = [{"hosts": "localhost", "gather_facts": False, "vars": dict({
        "supertodo_environment": "staging", "supertodo_git_url": "file://%s" % bare, "supertodo_git_branch": "main",
        "supertodo_schema_dir": os.environ.get("SUPERTODO_SCHEMA_DIR", ""), "super_todo_image_tag": "v9.9.9",
        "delivery_git_workdir": workdir, "__supertodo_manifests": _entries()}, **extra), "tasks": [
        {"name": "temporary working copy", "ansible.builtin.tempfile": {"state": "directory"}, "register": "__delivery_tmp",
         "when": not workdir},
        {"name": "git side", "ansible.builtin.include_role": {"name": "supertodo.platform.delivery", "tasks_from": "git.yml"}},
        {"name": "result", "ansible.builtin.copy": {"content": "{{ __supertodo_delivery | to_json }}", "dest": str(out),
                                                    "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                                        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300, check=False)
    proc.result = json.loads(out.read_text()) if proc.returncode == 0 else None
    if out.exists():
        out.unlink()
    return proc


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    return proc


def test_commit_push_nothing_secret_and_no_empty_commit(tmp_path, bare):
    first = ok(run(tmp_path, bare, workdir=str(tmp_path / "wc")))
    assert first.result["changed"] and first.result["pushed"]
    head = git(tmp_path, "--git-dir", str(bare), "rev-parse", "main")
    assert first.result["commit"] == head
    chart = yaml.safe_load((REPO / "charts/super-todo/Chart.yaml").read_text())["version"]
    assert git(tmp_path, "--git-dir", str(bare), "log", "-1", "--format=%an|%s", "main") == \
        "supertodo.platform|staging: super-todo v9.9.9 (chart %s)" % chart
    files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "flux-cd/namespaces/staging/namespace.yaml" in files and "flux-cd/charts/super-todo/Chart.yaml" in files
    assert "flux-cd/clusters/my-cluster/kustomization.yaml" in files and not [f for f in files if "secret" in f]
    # nothing secret anywhere in the history
    history = subprocess.run(["git", "--git-dir", str(bare), "log", "-p", "--all"], capture_output=True, text=True,
                             check=True).stdout
    assert SECRET_VALUE not in history and "redis-staging-auth" not in history
    assert (tmp_path / "wc" / ".git").is_dir()          # a given working copy is kept

    again = ok(run(tmp_path, bare, workdir=str(tmp_path / "wc")))
    assert not again.result["changed"] and not again.result["pushed"]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == head

    # a temporary clone sees the same tree: nothing to commit either
    tmp_run = ok(run(tmp_path, bare))
    assert not tmp_run.result["changed"] and tmp_run.result["commit"] == head


def test_tag_is_pushed_once_and_never_moved(tmp_path, bare):
    tagged = ok(run(tmp_path, bare, delivery_git_tag="v9.9.9", delivery_git_tag_message="Production release v9.9.9"))
    head = git(tmp_path, "--git-dir", str(bare), "rev-parse", "main")
    assert tagged.result["changed"] and tagged.result["tag"] == "v9.9.9"
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "v9.9.9^{commit}") == head
    assert git(tmp_path, "--git-dir", str(bare), "cat-file", "-p", "v9.9.9").splitlines()[-1] == "Production release v9.9.9"
    assert not ok(run(tmp_path, bare, delivery_git_tag="v9.9.9")).result["changed"]
    # another commit under the same tag is refused, naming the tag; nothing is pushed
    entries = _entries(replicas="2")
    moved = run(tmp_path, bare, delivery_git_tag="v9.9.9", __supertodo_manifests=entries)
    assert moved.returncode != 0 and "tag v9.9.9 already names commit %s" % head in moved.stdout, moved.stdout[-3000:]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == head
