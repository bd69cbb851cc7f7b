# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment role without a cluster: include_role stopped after producing (the roles' defaults are defined
before preflight, the include's vars reach the producing roles, nothing is delivered), and a bad step or component
refused by name before anything runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from test_render_and_refusals import GOOD, _env

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


def _play(*args, extra_env=None):
    return subprocess.run(["ansible-playbook", *args], cwd=str(REPO), env=_env(extra_env), capture_output=True,
                          text=True, timeout=600, check=False)


def test_include_stopped_after_producing_renders_nothing_and_keeps_the_include_vars(tmp_path):
    dump = tmp_path / "dump.json"
    render_dir = tmp_path / "render"
    render_dir.mkdir()
    proc = _play("-i", "inventories/production", str(HERE / "produce_only.yml"), "-e", "supertodo_delivery_mode=render",
                 "-e", "environments_dump_file=%s" % dump, "-e", "supertodo_render_dir=%s" % render_dir,
                 extra_env=GOOD)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    found = json.loads(dump.read_text())
    kinds = {o["kind"] for o in found["objects"]}
    assert {"Namespace", "HelmRelease", "CronJob", "NetworkPolicy"} <= kinds and "Secret" not in kinds
    # no cluster read in render mode without a kubeconfig: the CronJob keeps the default apiVersion
    assert [o["apiVersion"] for o in found["objects"] if o["kind"] == "CronJob"] == ["batch/v1"]
    assert any("9.9.9-produce-only" in values for values in found["values"])
    assert list(render_dir.iterdir()) == []
    # delivery is imported (its tasks show as skipped); reconcile and verify are not even included
    assert "TASK [supertodo.platform.reconcile" not in proc.stdout and "TASK [supertodo.platform.verify" not in proc.stdout


def test_unknown_step_and_component_are_refused_by_name():
    proc = _play("-i", "inventories/staging", "playbooks/render.yml", "-e", "environment_stop_after=deploy")
    assert proc.returncode != 0
    assert "environment_stop_after must be one of: produce, delivery, reconcile, verify, got: deploy" in proc.stdout
    assert "Preflight" not in proc.stdout
    proc = _play("-i", "inventories/staging", "playbooks/render.yml", "-e", '{"environment_components": ["redis", "kafka"]}')
    assert proc.returncode != 0 and "environment_components: unknown role(s) kafka" in proc.stdout
    assert "nothing was applied" in proc.stdout and "Preflight" not in proc.stdout
