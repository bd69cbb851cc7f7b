# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Secrets travel in their own fact, so the shared manifest list can be printed.

Runs the real secrets and namespace roles on the production inventory (production takes its values from the
environment and reads no cluster): the Secrets are in ``__supertodo_secret_manifests`` with their values,
``__supertodo_manifests`` holds none, and printing that list at -v shows no value and needs no censoring.
"""

from __future__ import annotations

import base64
import json
import subprocess

from test_render_and_refusals import GOOD, REPO, _env

PLAY = """
- name: Produce the Secrets and the namespace objects, print the manifest list
  hosts: supertodo
  gather_facts: false
  tasks:
    - name: Start an empty list of manifests
      ansible.builtin.set_fact:
        __supertodo_manifests: []
    - name: Run the secrets and namespace roles
      ansible.builtin.include_role:
        name: "supertodo.platform.{{ item }}"
      loop: [secrets, namespace]
    - name: Print the manifest list
      ansible.builtin.debug:
        var: __supertodo_manifests
    - name: Write both lists
      ansible.builtin.copy:
        content: "{{ {'manifests': __supertodo_manifests, 'secrets': __supertodo_secret_manifests} | to_json }}"
        dest: "{{ dump_file }}"
        mode: "0600"
      delegate_to: localhost
      no_log: true
"""


def test_secrets_in_their_own_list_and_the_manifest_list_printable(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    dump = tmp_path / "dump.json"
    proc = subprocess.run(["ansible-playbook", "-v", "-i", "inventories/production", str(play), "-e",
                           "dump_file=%s" % dump], cwd=str(REPO), env=_env(GOOD), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    data = json.loads(dump.read_text())
    assert [e for e in data["manifests"] if e.get("secret") or e["object"]["kind"] == "Secret"] == []
    names = ["postgres-production-superuser", "postgres-production-app", "redis-production-auth",
             "postgres-production-backup-s3"]
    assert [e["object"]["metadata"]["name"] for e in data["secrets"]] == names
    assert [e["path"] for e in data["secrets"]] == ["secrets/%s.yaml" % n for n in names]
    assert all(e["secret"] is True and e["object"]["kind"] == "Secret" for e in data["secrets"])
    redis = data["secrets"][2]["object"]
    assert base64.b64decode(redis["data"]["redis-password"]).decode() == GOOD["SUPERTODO_REDIS_PASSWORD"]
    # the list is printed in full (the namespace's objects are readable), and no value is anywhere in the output
    printed = proc.stdout.split("TASK [Print the manifest list]")[1].split("TASK [")[0]
    assert "kind: NetworkPolicy" in printed and "censored" not in printed
    for value in GOOD.values():
        assert value not in proc.stdout and base64.b64encode(value.encode()).decode() not in proc.stdout


def test_a_missing_value_fails_naming_the_secret_and_its_keys(tmp_path):
    """Production generates nothing: a key no variable sets stops the role, naming the Secret and the keys only."""
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    unset = ("SUPERTODO_REDIS_PASSWORD", "SUPERTODO_BACKUP_S3_ACCESS_KEY_ID", "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY")
    env = {k: v for k, v in GOOD.items() if k not in unset}
    proc = subprocess.run(["ansible-playbook", "-v", "-i", "inventories/production", str(play), "-e",
                           "dump_file=%s" % (tmp_path / "dump.json")], cwd=str(REPO), env=_env(env),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "production: Secret redis-production-auth has no value for redis-password (set the secrets_*" in out
    assert ("production: Secret postgres-production-backup-s3 has no value for ACCESS_KEY_ID, ACCESS_SECRET_KEY"
            in out)
    assert "postgres-production-app has no value" not in out
    assert not (tmp_path / "dump.json").exists()
    for value in env.values():
        assert value not in proc.stdout and base64.b64encode(value.encode()).decode() not in proc.stdout
