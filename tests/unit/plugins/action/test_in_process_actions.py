# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_objects_info and cluster_versions through their action plugins, against a small API server on loopback:
on the control node the module's code runs in the controller's process (no module run) with the module's result;
with a task environment the module runs, and gives the same result; bad arguments and an unreachable server fail
naming the module, the parameter or the server."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))

from action_playbooks import run_vvv  # noqa: E402
from kube_loopback import LoopbackServer  # noqa: E402

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    host: "%(url)s"
  tasks:
    - name: read
      supertodo.platform.k8s_objects_info:
        host: "{{ host }}"
        namespace: demo
        resources:
          - {api_version: v1, kind: ConfigMap}
          - {api_version: v1, kind: ConfigMap, name: present, key: one}
      register: read
    - name: version
      supertodo.platform.cluster_versions:
        host: "{{ host }}"
      register: version
    - name: read, as a module (a task environment applies only to a module's process)
      supertodo.platform.k8s_objects_info:
        host: "{{ host }}"
        namespace: demo
        resources:
          - {api_version: v1, kind: ConfigMap}
          - {api_version: v1, kind: ConfigMap, name: present, key: one}
      environment:
        SUPERTODO_TEST: "1"
      register: read_module
    - name: bad argument
      supertodo.platform.k8s_objects_info:
        host: "{{ host }}"
        resources: []
        bogus: 1
      register: bad
      ignore_errors: true
    - name: unreachable
      supertodo.platform.cluster_versions:
        host: "http://127.0.0.1:%(closed)d"
        request_timeout: 5
      register: unreachable
      ignore_errors: true
    - name: results
      ansible.builtin.copy:
        content: "{{ {'read': read, 'version': version, 'read_module': read_module, 'bad': bad,
                      'unreachable': unreachable} | to_json }}"
        dest: "%(out)s"
        mode: "0600"
"""


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_read_only_modules_run_in_the_controllers_process_on_the_control_node(tmp_path):
    out = tmp_path / "results.json"
    book = tmp_path / "book.yml"
    with LoopbackServer() as srv:
        book.write_text(PLAYBOOK % {"url": srv.url, "out": out, "closed": _closed_port()})
        run = run_vvv(book, tmp_path, drop=("K8S_AUTH_", "KUBECONFIG"))
    assert run.returncode == 0, run.stdout[-3000:]
    res = json.loads(out.read_text())
    read, module_read = res["read"], res["read_module"]
    assert read["objects"]["ConfigMap"] == [] and read["objects"]["one"][0]["metadata"]["name"] == "present"
    assert read["changed"] is False and read["not_served"] == [] and read["requests"] >= 2
    assert {k: module_read[k] for k in ("objects", "not_served", "forbidden", "changed")} == \
        {k: read[k] for k in ("objects", "not_served", "forbidden", "changed")}
    assert res["version"]["kubernetes_version"] == "1.30.0" and res["version"]["changed"] is False
    assert res["bad"]["failed"] is True
    assert "Unsupported parameters for (supertodo.platform.k8s_objects_info) module: bogus" in res["bad"]["msg"]
    assert res["unreachable"]["failed"] is True
    assert res["unreachable"]["msg"].startswith("reading the cluster's version: ")
    assert "unreachable" in res["unreachable"]["msg"]
    # -vvv shows each module Ansible packs and runs: only the one with a task environment
    assert run.stdout.count("AnsiballZ_k8s_objects_info.py") > 0
    assert "AnsiballZ_cluster_versions" not in run.stdout
    sections = run.stdout.split("TASK [")
    assert not [s for s in sections if s.startswith("read]") and "AnsiballZ" in s]
    assert [s for s in sections if s.startswith("read, as a module") and "AnsiballZ_k8s_objects_info" in s]


SECRET_VALUE = "in-process-secret-value-8675309"

MANIFEST_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    name: cfg
    cm: {apiVersion: v1, kind: ConfigMap, metadata: {name: "{{ name }}", namespace: demo}, data: {a: "{{ name }}"}}
    secret_value: "%(secret)s"
    secret:
      apiVersion: v1
      kind: Secret
      type: Opaque
      metadata: {name: creds, namespace: demo}
      stringData: {password: "{{ secret_value }}"}
  tasks:
    - name: render (templated, tagged values in, plain YAML out)
      supertodo.platform.manifest_render:
        manifests: [{path: apps/cm.yaml, object: "{{ cm }}"}]
        dest: "%(dest)s"
        schema_dir: "%(schemas)s"
      register: render
    - name: apply, a Secret among the objects
      supertodo.platform.manifest_apply:
        manifests: [{path: apps/cm.yaml, object: "{{ cm }}"}]
        secret_manifests: [{path: secrets/creds.yaml, object: "{{ secret }}"}]
        schema_dir: "%(schemas)s"
        host: "%(url)s"
        _ansible_diff: false
      diff: true
      register: apply
    - name: results
      ansible.builtin.copy:
        content: "{{ {'render': render, 'apply': apply} | to_json }}"
        dest: "%(out)s"
        mode: "0600"
"""


def test_manifest_modules_in_process_write_plain_yaml_and_mask_secret_values(tmp_path):
    from manifests_fakes import schema_dir_or_skip

    schemas = schema_dir_or_skip()
    out = tmp_path / "results.json"
    dest = tmp_path / "tree"
    book = tmp_path / "book.yml"
    with LoopbackServer() as srv:
        book.write_text(MANIFEST_PLAYBOOK.replace("        _ansible_diff: false\n", "") % {
            "url": srv.url, "out": out, "dest": dest, "schemas": schemas, "secret": SECRET_VALUE})
        run = run_vvv(book, tmp_path, SUPERTODO_DISCOVERY_CACHE_DIR="off")
        patched = [s["path"] for s in srv.seen if s["method"] == "PATCH"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert "AnsiballZ_manifest" not in run.stdout
    assert "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n" in (dest / "apps" / "cm.yaml").read_text()
    res = json.loads(out.read_text())
    assert res["render"]["changed"] is True
    refs = [o["ref"] for o in res["apply"]["objects"]]
    assert refs == ["Secret demo/creds", "ConfigMap demo/cfg"]
    assert any(p.split("?")[0].endswith("/namespaces/demo/secrets/creds") for p in patched)
    # the value reached the API server, never the task's output (result, diff, -vvv log)
    assert SECRET_VALUE not in run.stdout and SECRET_VALUE not in out.read_text()
