# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest_render module: writes the tree, changed only when bytes differ, check mode, never a Secret."""

from __future__ import annotations

import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))

from ansible_collections.supertodo.platform.plugins.modules import manifest_render  # noqa: E402
from manifests_fakes import CHART_DIR, configmap, namespace, schema_dir_or_skip, secret  # noqa: E402

B64 = "cmVuZGVyLXNlY3JldC12YWx1ZS0xMjEyMTI="


def _run(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            manifest_render.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def _args(dest, **extra):
    args = {"dest": str(dest), "schema_dir": schema_dir_or_skip(), "copies": {"charts/super-todo": CHART_DIR},
            "charts": {"super-todo": CHART_DIR},
            "manifests": [{"path": "namespaces/demo-namespace.yaml", "object": namespace()},
                          {"path": "namespaces/demo-namespace.yaml", "object": configmap()},
                          {"path": "x/s.yaml", "secret": True, "object": secret(password=B64)}]}
    args.update(extra)
    return args


def test_render_then_unchanged(capsys, tmp_path):
    result, raw = _run(capsys, _args(tmp_path))
    assert result["changed"] is True and result["skipped_secrets"] == 1
    assert "namespaces/demo-namespace.yaml" in result["files"] and "namespaces/kustomization.yaml" in result["files"]
    assert B64 not in raw and not (tmp_path / "x").exists()
    result, dummy = _run(capsys, _args(tmp_path))
    assert result["changed"] is False and result["files"] == []


def test_check_mode_writes_nothing_and_diff_shows_text(capsys, tmp_path):
    result, dummy = _run(capsys, _args(tmp_path, _ansible_check_mode=True, _ansible_diff=True))
    assert result["changed"] is True
    assert not any(tmp_path.iterdir())
    diff = {d["after_header"]: d["after"] for d in result["diff"]}
    assert "kind: ConfigMap" in diff["namespaces/demo-namespace.yaml"]


def test_invalid_object_writes_nothing(capsys, tmp_path):
    args = _args(tmp_path)
    args["manifests"][0]["object"]["metadata"]["bogus"] = 1
    result, dummy = _run(capsys, args)
    assert result["failed"] is True and "Namespace demo" in result["msg"]
    assert not any(tmp_path.iterdir())
