"""Ansible's own checks of the collection: ansible-test sanity, plugin and role documentation, changelog.

tools/sanity runs them on a copy of the checkout laid out as ansible_collections/supertodo/platform; the pip
bootstrap ansible-test downloads is replaced by the PyPI pip wheel (tools/sanity_get_pip.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _run(args, timeout=1200):
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=timeout)


def _version(text):
    return tuple(int(p) for p in str(text).split("."))


def _filter_names():
    names = []
    for path in sorted((ROOT / "plugins" / "filter").glob("*.py")):
        spec = importlib.util.spec_from_file_location("filter_" + path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names.extend(module.FilterModule().filters())
    return names


@pytest.mark.slow
def test_ansible_test_sanity_passes():
    res = _run([str(ROOT / "tools" / "sanity"), "ansible-test"])
    out = res.stdout + res.stderr
    failures = [line for line in out.splitlines() if line.startswith(("ERROR:", "FATAL:"))]
    assert res.returncode == 0, "\n".join(failures[:80]) or out[-6000:]
    assert "Running sanity test \"validate-modules\"" in out and "Running sanity test \"pylint\"" in out
    # a test whose program is missing (shellcheck) is skipped with a warning: that is not a pass
    assert "Required program" not in out, [line for line in out.splitlines() if "Required program" in line]


def test_sanity_ignores_only_chart_templates_for_yamllint():
    for ignore in sorted((ROOT / "tests" / "sanity").glob("ignore-*.txt")):
        for line in ignore.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            path, check = line.split()[:2]
            assert check == "yamllint!skip" and re.match(r"^(charts|tests/integration)/.*templates/[^/]+\.ya?ml$", path), (
                "%s: %s" % (ignore.name, line))


def test_antsibull_docs_lint_is_clean():
    res = _run([str(ROOT / "tools" / "sanity"), "docs"], timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]


def test_changelog_fragments_lint_clean():
    res = _run([str(ROOT / "tools" / "sanity"), "changelog"], timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (ROOT / "changelogs" / "changelog.yaml").is_file()
    assert list((ROOT / "changelogs" / "fragments").glob("*.yml")), "no changelog fragment"


@pytest.mark.parametrize("name", _filter_names())
def test_every_filter_has_documentation(name):
    res = _run(["ansible-doc", "-t", "filter", "--json", "supertodo.platform." + name], timeout=120)
    assert res.returncode == 0, res.stderr
    doc = list(json.loads(res.stdout).values())[0]["doc"]
    assert doc["name"] == name and doc["short_description"] and doc["version_added"]


def test_roles_have_galaxy_metadata():
    problems = []
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        meta = role / "meta" / "main.yml"
        if not meta.is_file():
            problems.append("%s: no meta/main.yml" % role.name)
            continue
        info = (yaml.safe_load(meta.read_text()) or {}).get("galaxy_info") or {}
        for key in ("author", "description", "license", "min_ansible_version"):
            if not info.get(key):
                problems.append("%s: galaxy_info.%s missing" % (role.name, key))
    assert problems == []


def _version_added(node, where, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "version_added":
                found.append((where, str(value)))
            else:
                _version_added(value, "%s.%s" % (where, key), found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _version_added(value, "%s[%d]" % (where, i), found)


def test_version_added_is_not_newer_than_the_collection():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    docs = []
    for path in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        text = path.read_text()
        match = re.search(r'^DOCUMENTATION = r?"""(.*?)"""', text, re.S | re.M)
        assert match, path
        docs.append((path.name, yaml.safe_load(match.group(1))))
    for path in sorted((ROOT / "plugins").glob("*/*.yml")):
        docs.append((path.name, (yaml.safe_load(path.read_text()) or {}).get("DOCUMENTATION")))
    found = []
    for name, doc in docs:
        assert doc.get("version_added"), "%s: no version_added" % name
        _version_added(doc, name, found)
    newer = ["%s: %s" % (where, version) for where, version in found
             if version != "historical" and _version(version) > _version(galaxy["version"])]
    assert newer == [], "galaxy.yml version is %s" % galaxy["version"]
