# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX as code (awx/configure.yml) checked without an AWX server.

Every awx.awx task of the playbook is rendered the way ansible-playbook renders it (vars_files, loops with their
loop_var, module_defaults of the ``group/awx.awx.controller`` action group, ``omit``) and its arguments are
validated against the argument spec of the *installed* awx.awx module (the spec is taken from the module's own
``main()``: the module's ``ControllerAPIModule`` is swapped for a recorder that keeps the spec and stops).
Then the object graph is checked: every job template, inventory, credential and project a task names is defined by
another task, every workflow node runs a job template that exists, and every link names a node of the same
workflow. Negative tests copy the playbook, plant one typo, and show that it fails.

Rendering runs in a child process (this file, run as a script) because it installs Ansible's collection loader,
which must not leak into the rest of the pytest session.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AWX_DIR = REPO / "awx"

# Values the render uses for inputs that normally come from the environment or ansible-vault. The secret ones are
# recognisable so the test can follow where they go.
TEST_INPUTS = {
    "awx_controller_host": "https://awx.test.invalid",
    "awx_controller_token": "SECRET-controller-token-0001",
    "awx_controller_validate_certs": True,
    "awx_project_scm_url": "https://git.test.invalid/supertodo/platform.git",
    "awx_project_scm_branch": "main",
    "awx_kube_host": "https://k8s.test.invalid:6443",
    "awx_kube_bearer_token": "SECRET-kube-token-0002",
    "awx_kube_ca_cert": "",
    "awx_vault_password": "SECRET-vault-password-0003",
    "awx_execution_environment": "Super-Todo EE",
}
SECRETS = {v for k, v in TEST_INPUTS.items() if isinstance(v, str) and v.startswith("SECRET-")}

# The playbooks the issue defines (some are written by other parts of the project later).
KNOWN_PLAYBOOKS = {
    "playbooks/site.yml", "playbooks/render.yml", "playbooks/reconcile.yml", "playbooks/verify.yml",
    "playbooks/backup.yml", "playbooks/restore_drill.yml", "playbooks/promote.yml",
}

TASK_KEYWORDS = {
    "name", "loop", "loop_control", "when", "no_log", "register", "tags", "vars", "changed_when", "failed_when",
    "delegate_to", "environment", "notify", "until", "retries", "delay", "check_mode", "diff", "become",
    "ignore_errors", "run_once", "module_defaults", "with_items", "with_dict", "with_subelements",
}


# ------------------------------------------------------------------------------------------------------------------
# child process: render the playbook's tasks and validate them against the installed awx.awx argument specs
# ------------------------------------------------------------------------------------------------------------------
class _SpecCaptured(Exception):
    pass


def _module_spec(module_name, cache={}):  # pylint: disable=dangerous-default-value
    """Return (full argument spec, AnsibleModule kwargs) of an installed awx.awx module, from its own main()."""
    if module_name in cache:
        return cache[module_name]
    import importlib

    mod = importlib.import_module("ansible_collections.awx.awx.plugins.modules.%s" % module_name)
    from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerModule

    captured = {}

    class Recorder:
        def __init__(self, argument_spec=None, **kwargs):
            captured["spec"] = argument_spec
            captured["kwargs"] = kwargs
            raise _SpecCaptured()

    names = [n for n in ("ControllerAPIModule", "ControllerAWXKitModule", "ControllerModule") if hasattr(mod, n)]
    if not names:
        raise RuntimeError("awx.awx.%s: no controller module class to record its argument spec" % module_name)
    saved = {n: getattr(mod, n) for n in names}
    try:
        for n in names:
            setattr(mod, n, Recorder)
        try:
            mod.main()
        except _SpecCaptured:
            pass
    finally:
        for n, v in saved.items():
            setattr(mod, n, v)
    if "spec" not in captured:
        raise RuntimeError("awx.awx.%s: main() did not build a controller module" % module_name)
    full = dict(ControllerModule.AUTH_ARGSPEC)
    full.update(captured["spec"])
    kwargs = {k: v for k, v in captured["kwargs"].items()
              if k in ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")}
    cache[module_name] = (full, kwargs)
    return cache[module_name]


def _iter_tasks(tasks):
    for task in tasks or []:
        if "block" in task:
            for key in ("block", "rescue", "always"):
                yield from _iter_tasks(task.get(key))
        else:
            yield task


def _task_action(task):
    actions = [k for k in task if k not in TASK_KEYWORDS]
    if len(actions) != 1:
        raise ValueError("task %r: expected one module key, found %r" % (task.get("name"), actions))
    return actions[0]


def _plain(value):
    """Convert Ansible's tagged/lazy containers into plain JSON-able data."""
    return json.loads(json.dumps(value, default=str))


def render_and_validate(playbook_path, inputs):
    """Render every task of the playbook and validate the awx.awx ones. Returns a JSON-able report."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[str(REPO / ".collections")])._install()
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    import yaml

    runtime = yaml.safe_load((Path(_awx_root()) / "meta" / "runtime.yml").read_text())
    controller_group = set(runtime["action_groups"]["controller"])

    loader = DataLoader()
    playbook_path = Path(playbook_path).resolve()
    loader.set_basedir(str(playbook_path.parent))
    plays = loader.load_from_file(str(playbook_path), trusted_as_template=True)
    report = {"tasks": [], "errors": []}
    for play in plays:
        variables = {}
        for vars_file in play.get("vars_files", []):
            variables.update(loader.load_from_file(str(playbook_path.parent / vars_file), trusted_as_template=True))
        variables.update(play.get("vars", {}) or {})
        variables.update(inputs)
        defaults = play.get("module_defaults", {}) or {}
        for task in _iter_tasks(play.get("tasks")):
            action = _task_action(task)
            entry = {"name": task.get("name"), "action": action, "no_log": bool(task.get("no_log", False)),
                     "calls": []}
            report["tasks"].append(entry)
            if not action.startswith("awx.awx."):
                continue
            module_name = action.split(".", 2)[2]
            try:
                spec, kwargs = _module_spec(module_name)
            except ImportError as exc:
                report["errors"].append("%s: awx.awx.%s is not an installed module (%s)" % (task.get("name"), module_name, exc))
                continue
            loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
            items = [None]
            if "loop" in task:
                items = Templar(loader=loader, variables=variables).template(task["loop"])
            for item in items:
                scope = dict(variables)
                if "loop" in task:
                    scope[loop_var] = item
                templar = Templar(loader=loader, variables=scope)
                params = {}
                if module_name in controller_group:
                    params.update(templar.template(defaults.get("group/awx.awx.controller", {}) or {}))
                params.update(templar.template(defaults.get(action, {}) or {}))
                params.update(templar.template(task[action] or {}))
                params = _plain(params)
                result = ArgumentSpecValidator(spec, **kwargs).validate(copy.deepcopy(params))
                errors = [str(e) for e in result.errors]
                no_log_params = sorted(k for k, v in spec.items() if v.get("no_log"))
                entry["calls"].append({"params": params, "errors": errors, "no_log_params": no_log_params})
                for err in errors:
                    report["errors"].append("%s (%s): %s" % (task.get("name"), action, err))
    return report


def _awx_root():
    import ansible_collections.awx.awx.plugins.modules as mods  # noqa: F401 - resolved through the loader

    return str(Path(mods.__file__).resolve().parents[2])


# ------------------------------------------------------------------------------------------------------------------
# test process
# ------------------------------------------------------------------------------------------------------------------
def run_render(playbook_path, inputs=None):
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, __file__, str(playbook_path), json.dumps(inputs or TEST_INPUTS)],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300, check=False,
    )
    assert proc.returncode == 0, "rendering %s failed:\n%s\n%s" % (playbook_path, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def _calls(report, action):
    return [c for t in report["tasks"] if t["action"] == action for c in t["calls"]]


def graph_errors(report, repo=REPO):
    """Check references between the AWX objects the playbook creates. Returns a list of error strings."""
    errors = []

    def p(action, key="name"):
        return {c["params"].get(key) for c in _calls(report, action)}

    orgs = p("awx.awx.organization")
    projects = p("awx.awx.project")
    inventories = p("awx.awx.inventory")
    inventory_sources = p("awx.awx.inventory_source")
    credentials = p("awx.awx.credential")
    job_templates = p("awx.awx.job_template")
    workflows = p("awx.awx.workflow_job_template")

    def need(kind, value, known, where):
        if value is not None and value not in known:
            errors.append("%s references %s %r, which is not defined (known: %s)" % (where, kind, value, sorted(known)))

    for action in ("awx.awx.project", "awx.awx.inventory", "awx.awx.credential", "awx.awx.job_template",
                   "awx.awx.workflow_job_template", "awx.awx.inventory_source", "awx.awx.workflow_job_template_node"):
        for c in _calls(report, action):
            need("organization", c["params"].get("organization"), orgs, "%s %s" % (action, c["params"].get("name") or c["params"].get("identifier")))
    for c in _calls(report, "awx.awx.inventory_source"):
        where = "inventory source %r" % c["params"]["name"]
        need("inventory", c["params"].get("inventory"), inventories, where)
        need("project", c["params"].get("source_project"), projects, where)
        if not (repo / c["params"].get("source_path", "")).exists():
            errors.append("%s: source_path %r does not exist in the repository" % (where, c["params"].get("source_path")))
    for c in _calls(report, "awx.awx.job_template"):
        where = "job template %r" % c["params"]["name"]
        need("project", c["params"].get("project"), projects, where)
        need("inventory", c["params"].get("inventory"), inventories, where)
        for cred in c["params"].get("credentials") or []:
            need("credential", cred, credentials, where)
        playbook = c["params"].get("playbook")
        if playbook not in KNOWN_PLAYBOOKS and not (repo / str(playbook)).is_file():
            errors.append("%s: playbook %r is neither in the repository nor one of %s" % (where, playbook, sorted(KNOWN_PLAYBOOKS)))

    nodes = {}  # (workflow, identifier) -> params
    for c in _calls(report, "awx.awx.workflow_job_template_node"):
        params = c["params"]
        wf, ident = params.get("workflow_job_template"), params.get("identifier")
        need("workflow", wf, workflows, "workflow node %r" % ident)
        if params.get("unified_job_template") is not None or params.get("approval_node") is not None:
            if (wf, ident) in nodes:
                errors.append("workflow %r: node %r is defined twice" % (wf, ident))
            nodes[(wf, ident)] = params
            need("job template", params.get("unified_job_template"), job_templates | inventory_sources | projects,
                 "workflow %r node %r" % (wf, ident))
            need("inventory", params.get("inventory"), inventories, "workflow %r node %r" % (wf, ident))
    edges = {}
    for c in _calls(report, "awx.awx.workflow_job_template_node"):
        params = c["params"]
        wf, ident = params.get("workflow_job_template"), params.get("identifier")
        if (wf, ident) not in nodes:
            errors.append("workflow %r: links set on node %r, which no task creates" % (wf, ident))
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in params.get(kind) or []:
                if (wf, target) not in nodes:
                    errors.append("workflow %r: node %r %s names %r, which is not a node of that workflow" % (wf, ident, kind, target))
                edges.setdefault((wf, ident), []).append((kind, target))
    # A workflow graph must be acyclic.
    state = {}

    def visit(key, path):
        if state.get(key) == "done":
            return
        if state.get(key) == "open":
            errors.append("workflow %r: cycle %s" % (key[0], " -> ".join(path + [key[1]])))
            return
        state[key] = "open"
        for dummy, target in edges.get(key, []):
            visit((key[0], target), path + [key[1]])
        state[key] = "done"

    for key in nodes:
        visit(key, [])
    return errors


def node_graph(report, workflow):
    """{identifier: {"template": name or "approval", "inventory": ..., "success": [...], ...}} for one workflow."""
    graph = {}
    for c in _calls(report, "awx.awx.workflow_job_template_node"):
        params = c["params"]
        if params["workflow_job_template"] != workflow:
            continue
        node = graph.setdefault(params["identifier"], {"success": [], "failure": [], "always": []})
        if params.get("unified_job_template"):
            node["template"] = params["unified_job_template"]
            node["inventory"] = params.get("inventory")
        if params.get("approval_node"):
            node["template"] = "approval"
        for kind in ("success", "failure", "always"):
            node[kind] = list(node[kind]) + list(params.get(kind + "_nodes") or [])
    return graph


def _copy_awx(tmp_path):
    dest = tmp_path / "awx"
    shutil.copytree(AWX_DIR, dest)
    return dest


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, "%s: %r not found" % (path, old)
    path.write_text(text.replace(old, new, 1))


# ------------------------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def report():
    return run_render(AWX_DIR / "configure.yml")


def test_every_awx_task_validates_against_the_installed_module_spec(report):
    assert report["errors"] == []
    awx_tasks = [t for t in report["tasks"] if t["action"].startswith("awx.awx.")]
    assert len(awx_tasks) >= 9
    for task in awx_tasks:
        assert task["calls"], "task %r rendered no call" % task["name"]
        for call in task["calls"]:
            # module_defaults reached every call (the controller connection).
            assert call["params"]["controller_host"] == TEST_INPUTS["awx_controller_host"]
    # every module the issue asks for is used
    used = {t["action"] for t in awx_tasks}
    assert {"awx.awx.organization", "awx.awx.project", "awx.awx.inventory", "awx.awx.inventory_source",
            "awx.awx.credential", "awx.awx.job_template", "awx.awx.workflow_job_template",
            "awx.awx.workflow_job_template_node"} <= used


def test_objects_the_issue_asks_for(report):
    templates = {c["params"]["name"]: c["params"] for c in _calls(report, "awx.awx.job_template")}
    playbooks = {p["playbook"] for p in templates.values()}
    assert {"playbooks/site.yml", "playbooks/verify.yml", "playbooks/backup.yml", "playbooks/restore_drill.yml",
            "playbooks/promote.yml"} <= playbooks
    site = sorted(p["inventory"] for p in templates.values() if p["playbook"] == "playbooks/site.yml")
    assert site == ["Super-Todo production", "Super-Todo staging"]
    promote = templates["Super-Todo promote"]
    assert promote["survey_enabled"] is True
    assert [q["variable"] for q in promote["survey_spec"]["spec"]] == ["promote_version"]
    assert all(p["survey_enabled"] is False for n, p in templates.items() if n != "Super-Todo promote")
    creds = {c["params"]["name"]: c["params"] for c in _calls(report, "awx.awx.credential")}
    kube = creds["Super-Todo Kubernetes"]
    assert kube["credential_type"] == "OpenShift or Kubernetes API Bearer Token"
    assert kube["inputs"]["bearer_token"] == TEST_INPUTS["awx_kube_bearer_token"]
    assert "ssl_ca_cert" not in kube["inputs"]  # omitted when empty
    assert all("Super-Todo Kubernetes" in p["credentials"] for p in templates.values())
    assert all(p["execution_environment"] == "Super-Todo EE" for p in templates.values())
    sources = {c["params"]["inventory"]: c["params"] for c in _calls(report, "awx.awx.inventory_source")}
    assert sources["Super-Todo staging"]["source_path"] == "inventories/staging"
    assert sources["Super-Todo production"]["source_path"] == "inventories/production"
    assert all(s["source"] == "scm" and s["source_project"] == "supertodo.platform" for s in sources.values())
    project = _calls(report, "awx.awx.project")[0]["params"]
    assert project["scm_url"] == TEST_INPUTS["awx_project_scm_url"]


def test_secrets_only_pass_through_no_log(report):
    for task in report["tasks"]:
        for call in task["calls"]:
            for key, value in call["params"].items():
                if any(s in json.dumps(value) for s in SECRETS):
                    assert task["no_log"] or key in call["no_log_params"], \
                        "task %r passes a secret in %r without no_log" % (task["name"], key)
    # and the credential tasks do carry secrets (the check above is not vacuous)
    cred_tasks = [t for t in report["tasks"] if t["action"] == "awx.awx.credential"]
    assert cred_tasks and all(t["no_log"] for t in cred_tasks)


def test_credentials_keep_their_secrets_unless_asked_to_update_them(report):
    # AWX answers secret inputs as $encrypted$: with update_secrets true the credential tasks would send them again
    # and report changed on every run (tests/integration/awx shows it against the API double).
    calls = _calls(report, "awx.awx.credential")
    assert len(calls) == 2 and all(c["params"]["update_secrets"] is False for c in calls)
    rotated = run_render(AWX_DIR / "configure.yml", dict(TEST_INPUTS, awx_update_secrets=True))
    assert all(c["params"]["update_secrets"] is True for c in _calls(rotated, "awx.awx.credential"))


def test_workflow_graph_references_only_what_exists(report):
    assert graph_errors(report) == []


def test_promotion_workflow_shape(report):
    graph = node_graph(report, "Super-Todo promotion")

    def by_template(ident):
        return graph[ident]["template"]

    # the success path: converge staging -> verify staging -> approval -> promote -> verify production
    roots = set(graph) - {t for n in graph.values() for k in ("success", "failure", "always") for t in n[k]}
    assert len(roots) == 1
    path, node = [], roots.pop()
    while True:
        path.append(node)
        if not graph[node]["success"]:
            break
        assert len(graph[node]["success"]) == 1
        node = graph[node]["success"][0]
    assert [by_template(n) for n in path] == [
        "Super-Todo converge staging", "Super-Todo verify", "approval", "Super-Todo promote", "Super-Todo verify"]
    assert graph[path[1]]["inventory"] == "Super-Todo staging"
    assert graph[path[4]]["inventory"] == "Super-Todo production"
    # the rollback branch: a failing promotion or a failing production verify rolls back, then verifies again
    for failing in (path[3], path[4]):
        assert [by_template(t) for t in graph[failing]["failure"]] == ["Super-Todo rollback production"]
    rollback = graph[path[3]]["failure"][0]
    assert [by_template(t) for t in graph[rollback]["always"]] == ["Super-Todo verify"]
    # nothing before the approval touches production
    for ident in path[:3]:
        assert graph[ident].get("inventory") in (None, "Super-Todo staging")
        assert by_template(ident) != "Super-Todo promote"


# --- negative tests: one planted typo each -------------------------------------------------------------------------
def test_typo_in_a_workflow_link_fails(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "vars" / "controller.yml", "success_nodes: [verify-production]", "success_nodes: [verify-prodution]")
    errors = graph_errors(run_render(awx / "configure.yml"))
    assert any("'verify-prodution'" in e and "not a node of that workflow" in e for e in errors), errors


def test_typo_in_a_node_template_fails(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "vars" / "controller.yml", "unified_job_template: Super-Todo promote\n",
          "unified_job_template: Super-Todo promot\n")
    errors = graph_errors(run_render(awx / "configure.yml"))
    assert any("job template 'Super-Todo promot'" in e for e in errors), errors


def test_typo_in_a_job_template_reference_fails(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "vars" / "controller.yml", "    playbook: playbooks/restore_drill.yml\n    inventory: Super-Todo production",
          "    playbook: playbooks/restore_dril.yml\n    inventory: Super-Todo productoin")
    errors = graph_errors(run_render(awx / "configure.yml"))
    assert any("inventory 'Super-Todo productoin'" in e for e in errors), errors
    assert any("playbook 'playbooks/restore_dril.yml'" in e for e in errors), errors


def test_cycle_in_the_workflow_fails(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "vars" / "controller.yml", "        success_nodes: [approve-promotion]",
          "        success_nodes: [approve-promotion]\n        failure_nodes: [converge-staging]")
    _edit(awx / "vars" / "controller.yml", "        unified_job_template: Super-Todo converge staging\n",
          "        unified_job_template: Super-Todo converge staging\n        always_nodes: [verify-staging]\n")
    report = run_render(awx / "configure.yml")
    assert any("cycle" in e for e in graph_errors(report)), graph_errors(report)


def test_misspelled_module_argument_fails_validation(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "configure.yml", "        scm_clean:", "        scm_claen:")
    report = run_render(awx / "configure.yml")
    assert any("Project" in e and "scm_claen" in e for e in report["errors"]), report["errors"]


def test_invalid_choice_and_type_fail_validation(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "configure.yml", "        job_type: run", "        job_type: runn")
    _edit(awx / "configure.yml", "        wait: true", "        wait: sometimes")
    report = run_render(awx / "configure.yml")
    assert any("job_type" in e and "runn" in e for e in report["errors"]), report["errors"]
    assert any("Project" in e and "'wait'" in e and "bool" in e for e in report["errors"]), report["errors"]


def test_unknown_module_fails(tmp_path):
    awx = _copy_awx(tmp_path)
    _edit(awx / "configure.yml", "awx.awx.inventory_source:", "awx.awx.inventory_sources:")
    report = run_render(awx / "configure.yml")
    assert any("awx.awx.inventory_sources is not an installed module" in e for e in report["errors"]), report["errors"]


if __name__ == "__main__":
    print(json.dumps(render_and_validate(sys.argv[1], json.loads(sys.argv[2]))))
