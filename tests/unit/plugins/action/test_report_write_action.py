# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report_write's action plugin: on the control node it writes in the controller's process (no module run), with
the module's results, check mode and errors; on another connection it runs the module."""

from __future__ import annotations

import json
import sys

import pytest
from action_playbooks import run_vvv

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: write
      supertodo.platform.report_write:
        dest: "%(dest)s"
        files: {r.md: "# report\\n", r.json: "{}\\n"}
      register: first
    - name: again
      supertodo.platform.report_write:
        dest: "%(dest)s"
        files: {r.md: "# report\\n", r.json: "{}\\n"}
      register: second
    - name: predict
      supertodo.platform.report_write:
        dest: "%(dest)s"
        files: {r.md: "# changed\\n"}
      check_mode: true
      diff: true
      register: third
    - name: bad name
      supertodo.platform.report_write:
        dest: "%(dest)s"
        files: {"../r.md": "x"}
      register: fourth
      ignore_errors: true
    - name: results
      ansible.builtin.copy:
        content: "{{ [first, second, third, fourth] | to_json }}"
        dest: "%(out)s"
        mode: "0600"
"""


def test_on_the_control_node_it_writes_without_a_module_run(tmp_path):
    dest = tmp_path / "reports"
    out = tmp_path / "results.json"
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK % {"dest": dest, "out": out})
    run = run_vvv(book, tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    first, second, third, fourth = json.loads(out.read_text())
    assert first["changed"] is True and sorted(first["written"]) == [str(dest / "r.json"), str(dest / "r.md")]
    assert (dest / "r.md").read_text() == "# report\n"
    assert second["changed"] is False and second["written"] == []
    assert third["changed"] is True and third["written"] == [str(dest / "r.md")]
    assert third["diff"][0]["after"] == "# changed\n" and (dest / "r.md").read_text() == "# report\n"
    assert fourth["failed"] is True and "must be a plain name" in fourth["msg"]
    # -vvv shows every module Ansible packs and runs (AnsiballZ_<name>.py): none for report_write
    assert "AnsiballZ_copy.py" in run.stdout
    assert "AnsiballZ_report_write" not in run.stdout


def test_on_another_connection_the_module_runs_on_the_host(monkeypatch):
    from ansible.plugins.action import ActionBase

    from ansible_collections.supertodo.platform.plugins.action import report_write as action

    calls = []

    class Conn:
        transport = "ssh"

    plugin = action.ActionModule.__new__(action.ActionModule)
    plugin._connection = Conn()
    plugin._play_context = type("PC", (), {"become": False})()
    plugin._task = type("T", (), {"args": {"dest": "/r", "files": {}}, "async_val": 0})()
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    monkeypatch.setattr(plugin, "_execute_module", lambda **kw: calls.append(kw) or {"changed": False, "written": []},
                        raising=False)
    assert plugin.run(task_vars={}) == {"changed": False, "written": []}
    assert calls and calls[0]["module_name"] == "supertodo.platform.report_write"
    Conn.transport = "local"
    plugin._play_context.become = True
    calls.clear()
    plugin.run(task_vars={})
    assert calls, "with become the module runs (as the become user)"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
