# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest_templates lookup in a real ansible-playbook run: the same objects as the template lookup followed
by from_yaml_all, empty documents left out, values never templated again, errors naming the template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

TEMPLATES = {
    "first.yaml.j2": """---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ name }}
  labels:
    app.kubernetes.io/part-of: {{ name }}
data:
  literal: {{ literal | to_json }}
  count: "{{ items | length }}"
---
# an empty document: left out
---
{% for item in items %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ name }}-{{ item }}
data:
  path: {{ template_path }}
{% endfor %}
""",
    "second.yaml.j2": """apiVersion: v1
kind: Service
metadata:
  name: {{ name }}
spec:
  ports:
    - port: {{ port | int }}
""",
    "undefined.yaml.j2": "kind: ConfigMap\nmetadata:\n  name: {{ not_defined_anywhere }}\n",
    "broken.yaml.j2": "kind: ConfigMap\nmetadata: [unclosed\n",
}

PLAY = """- hosts: localhost
  gather_facts: false
  vars:
    name: web
    items: [a, b]
    port: "8080"
    literal: "{{ '{{' }} not templated {{ '}}' }}"
    big: "{{ range(2000) | list }}"
  tasks:
    - name: ours
      ansible.builtin.set_fact:
        ours: "{{ query('supertodo.platform.manifest_templates', *templates) }}"
    - name: the template lookup and from_yaml_all
      ansible.builtin.set_fact:
        builtin: >-
          {{ query('ansible.builtin.template', *templates) | map('ansible.builtin.from_yaml_all')
             | ansible.builtin.flatten(levels=1) | reject('none') }}
    - name: write both
      ansible.builtin.copy:
        content: "{{ {'ours': ours, 'builtin': builtin} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def _run(tmp_path, templates):
    """The playbook's result; the two lists it wrote are in ``tmp_path / 'out.json'``."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(text)
    book = tmp_path / "play.yml"
    book.write_text(PLAY)
    out = tmp_path / "out.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(book),
                             "-e", json.dumps({"templates": templates, "out": str(out)})],
                            cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return result


def test_the_objects_of_every_template_in_order_as_the_template_lookup_gives_them(tmp_path):
    result = _run(tmp_path, ["first.yaml.j2", "second.yaml.j2"])
    out = tmp_path / "out.json"
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(out.read_text())
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in got["ours"]]
    assert names == [("ConfigMap", "web"), ("ConfigMap", "web-a"), ("ConfigMap", "web-b"), ("Service", "web")]
    assert got["ours"] == got["builtin"]
    # a value is data: what looks like a template in it stays as written
    assert got["ours"][0]["data"]["literal"] == "{{ not templated }}"
    assert got["ours"][1]["data"]["path"] == "first.yaml.j2"
    assert got["ours"][3]["spec"]["ports"] == [{"port": 8080}]


def test_an_undefined_variable_names_the_template_and_the_variable(tmp_path):
    result = _run(tmp_path, ["first.yaml.j2", "undefined.yaml.j2"])
    assert result.returncode != 0
    assert "manifest_templates: undefined.yaml.j2" in result.stdout
    assert "not_defined_anywhere" in result.stdout


def test_invalid_yaml_names_the_template(tmp_path):
    result = _run(tmp_path, ["broken.yaml.j2"])
    assert result.returncode != 0
    assert "manifest_templates: broken.yaml.j2 does not render to valid YAML at line 3" in result.stdout
    # the rendered line is not quoted (a Secret's template renders its values)
    assert "[unclosed" not in result.stdout


def test_a_missing_template_is_named(tmp_path):
    result = _run(tmp_path, ["first.yaml.j2", "absent.yaml.j2"])
    assert result.returncode != 0
    assert "manifest_templates: template absent.yaml.j2 not found" in result.stdout
