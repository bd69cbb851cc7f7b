"""The collection as a whole: it builds cleanly, lints cleanly, and resolves from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _run(args, **kw):
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return subprocess.run(args, cwd=kw.pop("cwd", ROOT), env=env, capture_output=True, text=True,
                          check=kw.pop("check", False), **kw)


def test_collection_builds_without_caches_or_build_trees(tmp_path):
    # Plant the kind of clutter a working checkout has, to prove build_ignore keeps it out.
    clutter = ROOT / "tests" / "output" / "clutter.txt"
    clutter.parent.mkdir(parents=True, exist_ok=True)
    clutter.write_text("x")
    try:
        res = _run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), "--force"])
    finally:
        clutter.unlink()
    assert res.returncode == 0, res.stderr
    tarballs = list(tmp_path.glob("supertodo-platform-*.tar.gz"))
    assert len(tarballs) == 1
    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert any(n.startswith("plugins/module_utils/kube/") for n in names)
    bad = [n for n in names if n.startswith((".venv", ".collections", ".git/", ".pytest_cache", "tests/output"))
           or "__pycache__" in n or n.endswith(".pyc")]
    assert bad == []


def test_playbook_from_checkout_resolves_collection_content():
    res = _run(["ansible-galaxy", "collection", "list", "supertodo.platform"])
    assert res.returncode == 0, res.stderr
    assert "supertodo.platform" in res.stdout
    assert str(ROOT / ".collections") in res.stdout


@pytest.mark.slow
def test_ansible_lint_production_profile_is_clean():
    res = _run(["ansible-lint", "--offline", "--profile", "production", "--nocolor"])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]


def test_yamllint_strict_is_clean():
    res = _run(["yamllint", "--strict", "."])
    assert res.returncode == 0, res.stdout[-6000:]
