# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX API double (tools/awxdouble) on loopback, without a cluster: what it answers and what it refuses, with
AWX's status codes, the way the awx.awx modules see it."""

from __future__ import annotations

import subprocess

import pytest

from .awxapi import REPO, AwxDouble


@pytest.fixture(scope="module")
def awx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("awxapi")
    repo = tmp / "project"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "site.yml").write_text("- hosts: all\n  gather_facts: false\n  tasks: []\n")
    (repo / "show.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'version={{ v }} host={{ lookup(\"env\", \"K8S_AUTH_HOST\") }}"
        " job={{ awx_job_id }} secret={{ sealed }}'\n")
    (repo / "inventory" / "group_vars" / "all").mkdir(parents=True)
    vault = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-vault"), "encrypt_string", "--vault-password-file",
                            "/dev/stdin", "opened-by-vault", "--name", "sealed"], input="vault-pw-0001",
                           capture_output=True, text=True, check=True).stdout
    (repo / "inventory" / "group_vars" / "all" / "vault.yml").write_text(vault)
    (repo / "inventory").mkdir(exist_ok=True)
    (repo / "inventory" / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"],
                   check=True)
    double = AwxDouble(tmp / "state", {"PATH": "%s:/usr/bin:/bin" % (REPO / ".venv" / "bin")}).start()
    double.repo = repo
    yield double
    double.stop()


def _create(awx, lst, body):
    status, out = awx.call("POST", lst + "/", body)
    assert status == 201, (lst, status, out)
    return out


def test_version_headers_ping_and_authentication(awx):
    status, dummy, headers = awx.call("GET", "ping/", token=False, raw=True)
    assert status == 200
    assert headers["X-API-Product-Name"] == "AWX" and headers["X-API-Product-Version"] == "24.6.1"
    assert awx.call("GET", "organizations/", token=False)[0] == 401
    assert awx.call("GET", "organizations/", token="wrong")[0] == 401
    assert awx.call("GET", "config/")[1]["version"] == "24.6.1"
    assert awx.call("GET", "me/")[1]["results"][0]["username"] == "admin"


def test_refusals_name_the_field(awx):
    org = _create(awx, "organizations", {"name": "Org A"})
    assert awx.call("POST", "organizations/", {"name": "Org B", "colour": "red"}) == (
        400, {"colour": ["'colour' is not a field of organization."]})
    assert awx.call("POST", "organizations/", {"description": "no name"}) == (
        400, {"name": ["This field is required."]})
    assert awx.call("POST", "inventories/", {"name": "Inv", "organization": 999}) == (
        400, {"organization": ['Invalid pk "999" - object does not exist.']})
    status, body = awx.call("POST", "organizations/", {"name": "Org A"})
    assert status == 400 and "already exists" in body["__all__"][0]
    assert awx.call("GET", "organizations/99999/")[0] == 404
    assert awx.call("GET", "no_such_list/")[0] == 404
    assert awx.call("PUT", "organizations/")[0] == 405
    assert awx.call("POST", "jobs/", {})[0] == 405
    assert awx.call("GET", "organizations/?colour=red")[0] == 400
    ctype = awx.one("credential_types", name="OpenShift or Kubernetes API Bearer Token")
    status, body = awx.call("POST", "credentials/", {"name": "k", "organization": org["id"],
                                                     "credential_type": ctype["id"],
                                                     "inputs": {"host": "https://x", "token": "t"}})
    assert status == 400 and set(body["inputs"]) == {"token", "bearer_token"}


def test_secrets_are_encrypted_and_lookups_page(awx):
    org = awx.one("organizations", name="Org A")
    ctype = awx.one("credential_types", name="Vault")
    cred = _create(awx, "credentials", {"name": "v", "organization": org["id"], "credential_type": ctype["id"],
                                        "inputs": {"vault_password": "s3cret-value"}})
    assert cred["inputs"] == {"vault_password": "$encrypted$"}
    assert "s3cret-value" not in str(awx.get("credentials/%d/" % cred["id"]))
    for n in range(30):
        _create(awx, "organizations", {"name": "page-%02d" % n})
    first = awx.get("organizations/?page_size=10")
    assert first["count"] == 31 and len(first["results"]) == 10 and first["next"] and first["previous"] is None
    assert awx.get(first["next"])["results"][0]["name"] == "page-09"
    by_id = awx.get("organizations/?or__id=%d&or__name=%d" % (org["id"], org["id"]))
    assert by_id["count"] == 1 and by_id["results"][0]["name"] == "Org A"


def test_project_sync_playbook_check_and_workflow_links(awx):
    org = awx.one("organizations", name="Org A")
    proj = _create(awx, "projects", {"name": "p", "organization": org["id"], "scm_type": "git",
                                     "scm_url": str(awx.repo), "scm_branch": "main"})
    update = proj["summary_fields"]["current_update"]["id"]
    awx.wait("project_updates/%d/" % update, lambda u: u["status"] in ("successful", "failed"), 60)
    assert awx.get("project_updates/%d/" % update)["status"] == "successful"
    inv = _create(awx, "inventories", {"name": "i", "organization": org["id"]})
    assert awx.call("POST", "job_templates/", {"name": "jt", "project": proj["id"], "playbook": "nope.yml",
                                               "inventory": inv["id"]}) == (
        400, {"playbook": ["Playbook not found for project."]})
    jt = _create(awx, "job_templates", {"name": "jt", "project": proj["id"], "playbook": "site.yml",
                                        "inventory": inv["id"]})
    wf1 = _create(awx, "workflow_job_templates", {"name": "w1", "organization": org["id"]})
    wf2 = _create(awx, "workflow_job_templates", {"name": "w2", "organization": org["id"]})
    a = _create(awx, "workflow_job_template_nodes", {"workflow_job_template": wf1["id"], "identifier": "a",
                                                     "unified_job_template": jt["id"]})
    b = _create(awx, "workflow_job_template_nodes", {"workflow_job_template": wf1["id"], "identifier": "b",
                                                     "unified_job_template": jt["id"]})
    other = _create(awx, "workflow_job_template_nodes", {"workflow_job_template": wf2["id"], "identifier": "a"})
    assert awx.call("POST", "workflow_job_template_nodes/", {"workflow_job_template": wf1["id"],
                                                             "identifier": "c", "unified_job_template": jt["id"],
                                                             "inventory": inv["id"]}) == (
        400, {"inventory": ["Field is not configured to prompt on launch."]})
    assert awx.call("POST", "workflow_job_template_nodes/%d/success_nodes/" % a["id"], {"id": b["id"]})[0] == 204
    assert awx.call("POST", "workflow_job_template_nodes/%d/success_nodes/" % b["id"], {"id": a["id"]}) == (
        400, {"Error": "Cycle detected."})
    assert awx.call("POST", "workflow_job_template_nodes/%d/failure_nodes/" % a["id"], {"id": other["id"]})[0] == 400
    assert [n["id"] for n in awx.get("workflow_job_template_nodes/%d/success_nodes/" % a["id"])["results"]] == [b["id"]]


def test_jobs_run_with_survey_answers_and_injected_credentials_and_approvals_time_out(awx):
    org = awx.one("organizations", name="Org A")
    proj = awx.one("projects", name="p")
    inv = awx.one("inventories", name="i")
    _create(awx, "inventory_sources", {"name": "i src", "inventory": inv["id"], "source": "scm",
                                       "source_project": proj["id"], "source_path": "inventory"})
    kube_type = awx.one("credential_types", name="OpenShift or Kubernetes API Bearer Token")
    kube_cred = _create(awx, "credentials", {"name": "kube", "organization": org["id"],
                                             "credential_type": kube_type["id"],
                                             "inputs": {"host": "https://k8s.invalid:6443", "bearer_token": "t0k"}})
    vault_cred = _create(awx, "credentials", {"name": "vault", "organization": org["id"],
                                              "credential_type": awx.one("credential_types", name="Vault")["id"],
                                              "inputs": {"vault_password": "vault-pw-0001"}})
    jt = _create(awx, "job_templates", {"name": "show", "project": proj["id"], "playbook": "show.yml",
                                        "inventory": inv["id"], "survey_enabled": True})
    for cred in (kube_cred, vault_cred):
        assert awx.call("POST", "job_templates/%d/credentials/" % jt["id"], {"id": cred["id"]})[0] == 204
    assert awx.call("POST", "job_templates/%d/credentials/" % jt["id"], {"id": kube_cred["id"] + 99})[0] == 400
    spec = {"name": "s", "description": "", "spec": [{"question_name": "v", "variable": "v", "type": "text",
                                                      "required": True, "min": 1, "max": 8}]}
    assert awx.call("POST", "job_templates/%d/survey_spec/" % jt["id"], spec)[0] == 200
    assert awx.get("job_templates/%d/survey_spec/" % jt["id"]) == spec
    assert awx.call("POST", "job_templates/%d/launch/" % jt["id"], {}) == (
        400, {"variables_needed_to_start": ["'v' value missing"]})
    status, body = awx.call("POST", "job_templates/%d/launch/" % jt["id"], {"extra_vars": {"v": "v1.2.3", "x": 1}})
    assert status == 201 and body["ignored_fields"] == {"extra_vars": {"x": 1}}
    job = awx.wait("jobs/%d/" % body["job"], lambda j: j["finished"], 120, "the job")
    out = awx.stdout(job["id"])
    assert job["status"] == "successful", out
    assert "version=v1.2.3 host=https://k8s.invalid:6443 job=%d secret=opened-by-vault" % job["id"] in out

    wf = _create(awx, "workflow_job_templates", {"name": "gate", "organization": org["id"]})
    gate = _create(awx, "workflow_job_template_nodes", {"workflow_job_template": wf["id"], "identifier": "gate"})
    assert awx.call("POST", "workflow_job_template_nodes/%d/create_approval_template/" % gate["id"],
                    {"name": "ok?", "timeout": 1})[0] == 201
    after = _create(awx, "workflow_job_template_nodes", {"workflow_job_template": wf["id"], "identifier": "after",
                                                         "unified_job_template": jt["id"]})
    assert awx.call("POST", "workflow_job_template_nodes/%d/success_nodes/" % gate["id"], {"id": after["id"]})[0] == 204
    status, body = awx.call("POST", "workflow_job_templates/%d/launch/" % wf["id"], {})
    assert status == 201
    done = awx.wait("workflow_jobs/%d/" % body["workflow_job"], lambda w: w["finished"], 60, "the workflow")
    nodes = awx.workflow_nodes(done["id"])
    assert done["status"] == "failed"
    assert nodes["gate"]["_job"]["status"] == "failed" and nodes["gate"]["_job"]["timed_out"] is True
    assert nodes["after"]["do_not_run"] and nodes["after"]["_job"] is None
