"""What runs behind the AWX API double: project updates (git), jobs (ansible-runner) and workflow jobs.

A job gets a private data directory ``<state>/jobs/<id>/`` laid out as AWX lays it out for ansible-runner:
``project/`` (a copy of the project's checkout), ``env/extravars``, ``env/envvars`` (the injected credentials),
``env/passwords`` and ``env/cmdline`` (the vault password prompt), and ``artifacts/`` where ansible-runner writes
``stdout``, ``rc`` and ``status``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time

import yaml

from .model import ApiError, now

DONE = ("successful", "failed", "error", "canceled")


def _vars(text):
    """A job template's or launch's extra_vars: a dict, or JSON/YAML text of one."""
    if isinstance(text, dict):
        return dict(text)
    if not text:
        return {}
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ApiError(400, {"extra_vars": ["Must be a valid JSON or YAML dictionary."]})
    return data


class Engine:
    def __init__(self, store, state_dir, task_env):
        self.store = store
        self.state = state_dir
        self.task_env = dict(task_env)
        self.approval_events = {}
        self.threads = []

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _proc_env(self):
        env = {"HOME": str(self.state / "home"), "LANG": "C.UTF-8", "PATH": os.defpath}
        (self.state / "home").mkdir(parents=True, exist_ok=True)
        env.update(self.task_env)
        return env

    # -- projects ----------------------------------------------------------------------------------------------
    def checkout_dir(self, project):
        return self.state / "projects" / ("_%d__%s" % (project["id"], project["name"].replace("/", "_")))

    def start_project_update(self, project):
        update = self.store.insert("project_updates", {
            "name": project["name"], "project": project["id"], "status": "pending", "failed": False,
            "started": now(), "finished": None, "scm_revision": "", "result_stdout": "", "launch_type": "manual"})
        project["_current_update"] = update["id"]
        project["status"] = "updating"
        self._spawn(self._project_update, project, update)
        return update

    def _project_update(self, project, update):
        update["status"] = "running"
        dest = self.checkout_dir(project)
        out = []
        ok = True
        try:
            if project.get("scm_type") != "git":
                raise RuntimeError("scm_type %r: only git projects are synced here" % project.get("scm_type"))
            branch = project.get("scm_branch") or "HEAD"
            git = ["git", "-c", "advice.detachedHead=false"]
            if not (dest / ".git").is_dir():
                dest.parent.mkdir(parents=True, exist_ok=True)
                cmds = [git + ["clone", "--quiet", project["scm_url"], str(dest)]]
            else:
                cmds = []
            cmds += [git + ["-C", str(dest), "fetch", "--quiet", "--force", project["scm_url"], branch],
                     git + ["-C", str(dest), "checkout", "--quiet", "--force", "FETCH_HEAD"]]
            if project.get("scm_clean"):
                cmds.append(git + ["-C", str(dest), "clean", "-fdxq"])
            for cmd in cmds:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                                      env=self._proc_env())
                out.append("$ %s\n%s%s" % (" ".join(cmd[3:]), proc.stdout, proc.stderr))
                if proc.returncode != 0:
                    raise RuntimeError("git exited with %d" % proc.returncode)
            rev = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 check=True, env=self._proc_env()).stdout.strip()
            update["scm_revision"] = project["scm_revision"] = rev
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            out.append("project update failed: %s\n" % exc)
            ok = False
        update["result_stdout"] = "".join(out)
        update["status"] = "successful" if ok else "failed"
        update["failed"] = not ok
        update["finished"] = now()
        project["status"] = update["status"]
        project["last_job_run"] = update["finished"]
        project["_current_update"] = None

    def sync_and_wait(self, project, timeout=300):
        update = self.start_project_update(project)
        deadline = time.monotonic() + timeout
        while update["status"] not in DONE and time.monotonic() < deadline:
            time.sleep(0.2)
        return update

    # -- launching ---------------------------------------------------------------------------------------------
    def survey_answers(self, template, lst, given):
        """AWX's survey check on launch: the answers it accepts, or 400 variables_needed_to_start."""
        spec = self.store.surveys.get((lst, template["id"]))
        if not template.get("survey_enabled") or not spec:
            return {}
        errors = []
        answers = {}
        for q in spec.get("spec", []):
            var = q["variable"]
            if var in given:
                value = given[var]
                if q.get("type") in ("text", "textarea", "password") and isinstance(value, str):
                    if q.get("min") is not None and len(value) < int(q["min"]):
                        errors.append("'%s' value %s is too small (length is %d must be at least %s)."
                                      % (var, value, len(value), q["min"]))
                    if q.get("max") is not None and len(value) > int(q["max"]):
                        errors.append("'%s' value %s is too large (must be no more than %s)." % (var, value, q["max"]))
                answers[var] = value
            elif q.get("required"):
                errors.append("'%s' value missing" % var)
            elif q.get("default") not in (None, ""):
                answers[var] = q["default"]
        if errors:
            raise ApiError(400, {"variables_needed_to_start": errors})
        return answers

    def launch_job_template(self, jt, body, workflow=None, node=None):
        given = _vars(body.get("extra_vars"))
        ignored = {}
        answers = self.survey_answers(jt, "job_templates", given)
        if jt.get("ask_variables_on_launch"):
            answers = dict(given, **answers)
        elif set(given) - set(answers) and workflow is None:
            ignored["extra_vars"] = {k: v for k, v in given.items() if k not in answers}
        if workflow is not None:
            answers = dict(given)               # workflow extra vars reach every job of the workflow
        inventory = jt.get("inventory")
        if body.get("inventory") is not None:
            if jt.get("ask_inventory_on_launch"):
                inventory = int(body["inventory"])
                if self.store.get("inventories", inventory) is None:
                    raise ApiError(400, {"inventory": ['Invalid pk "%s" - object does not exist.' % inventory]})
            else:
                ignored["inventory"] = body["inventory"]
        if not inventory:
            raise ApiError(400, {"inventory": ["Job Template 'inventory' is missing or undefined."]})
        job = self.store.insert("jobs", {
            "name": jt["name"], "job_template": jt["id"], "unified_job_template": jt["id"], "project": jt["project"],
            "inventory": inventory, "playbook": jt["playbook"], "job_type": jt.get("job_type", "run"),
            "status": "pending", "failed": False, "started": None, "finished": None, "elapsed": 0.0,
            "job_explanation": "", "result_rc": None, "scm_revision": "",
            "launch_type": "workflow" if workflow else "manual",
            "extra_vars": json.dumps(answers), "credentials": list(self.store.assoc.get(
                ("job_templates", jt["id"], "credentials"), [])),
            "_stdout": "", "_ignored": ignored})
        if workflow is None:
            self._spawn(self.run_job, job, None)
        return job

    def launch_workflow(self, wfjt, body):
        given = _vars(body.get("extra_vars"))
        answers = self.survey_answers(wfjt, "workflow_job_templates", given)
        extra = _vars(wfjt.get("extra_vars"))
        extra.update(dict(given, **answers) if wfjt.get("ask_variables_on_launch") else answers)
        wj = self.store.insert("workflow_jobs", {
            "name": wfjt["name"], "workflow_job_template": wfjt["id"], "unified_job_template": wfjt["id"],
            "status": "pending", "failed": False, "started": None, "finished": None, "elapsed": 0.0,
            "extra_vars": json.dumps(extra), "job_explanation": "", "launch_type": "manual"})
        nodes = {}
        for node in self.store.all("workflow_job_template_nodes"):
            if node["workflow_job_template"] != wfjt["id"]:
                continue
            nodes[node["id"]] = self.store.insert("workflow_job_nodes", {
                "workflow_job": wj["id"], "identifier": node.get("identifier"),
                "unified_job_template": node.get("unified_job_template"), "inventory": node.get("inventory"),
                "extra_data": node.get("extra_data") or {}, "job": None, "do_not_run": False,
                "_template_node": node["id"]})
        for tmpl_id, jn in nodes.items():
            for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                jn[kind] = [nodes[c]["id"] for c in self.store.assoc.get(
                    ("workflow_job_template_nodes", tmpl_id, kind), [])]
        self._spawn(self.run_workflow, wj, list(nodes.values()), extra)
        return wj

    # -- running -----------------------------------------------------------------------------------------------
    def _injections(self, job, private):
        """Credentials injected as AWX injects them: (env vars, passwords, cmdline arguments)."""
        env, passwords, args = {}, {}, []
        for cid in job["credentials"]:
            cred = self.store.get("credentials", cid)
            ctype = self.store.get("credential_types", cred["credential_type"])
            inputs = cred.get("inputs", {})
            if ctype["namespace"] == "kubernetes_bearer_token":
                env["K8S_AUTH_HOST"] = inputs.get("host", "")
                env["K8S_AUTH_API_KEY"] = inputs.get("bearer_token", "")
                if inputs.get("verify_ssl", True) and inputs.get("ssl_ca_cert"):
                    env["K8S_AUTH_VERIFY_SSL"] = "True"
                    ca = private / "env" / ("ca_%d.crt" % cid)
                    ca.write_text(inputs["ssl_ca_cert"])
                    ca.chmod(0o600)
                    env["K8S_AUTH_SSL_CA_CERT"] = str(ca)
                else:
                    env["K8S_AUTH_VERIFY_SSL"] = "False"
            elif ctype["namespace"] == "vault":
                vault_id = inputs.get("vault_id")
                if vault_id:
                    args.append("--vault-id %s@prompt" % vault_id)
                    passwords[r"Vault password \(%s\):\s*?$" % vault_id] = inputs.get("vault_password", "")
                else:
                    args.append("--ask-vault-pass")
                    passwords[r"Vault password:\s*?$"] = inputs.get("vault_password", "")
        return env, passwords, args

    def run_job(self, job, workflow):
        job["status"] = "running"
        job["started"] = now()
        start = time.monotonic()
        try:
            self._run_job(job, workflow)
        except Exception as exc:  # noqa: BLE001 - any failure is the job's error, as in AWX
            job["status"] = "error"
            job["job_explanation"] = "%s: %s" % (type(exc).__name__, exc)
        job["failed"] = job["status"] != "successful"
        job["finished"] = now()
        job["elapsed"] = round(time.monotonic() - start, 3)

    def _run_job(self, job, workflow):
        project = self.store.get("projects", job["project"])
        if project.get("scm_update_on_launch") or not self.checkout_dir(project).is_dir():
            update = self.sync_and_wait(project)
            if update["status"] != "successful":
                job["status"] = "failed"
                job["job_explanation"] = "Previous Task Failed: project update %d" % update["id"]
                return
        job["scm_revision"] = project.get("scm_revision", "")
        private = self.state / "jobs" / str(job["id"])
        if private.exists():
            shutil.rmtree(private)
        (private / "env").mkdir(parents=True)
        shutil.copytree(self.checkout_dir(project), private / "project", symlinks=True,
                        ignore=shutil.ignore_patterns(".git"))
        inventory = self.store.get("inventories", job["inventory"])
        sources = [s for s in self.store.all("inventory_sources") if s["inventory"] == inventory["id"]]
        if not sources or sources[0].get("source") != "scm":
            raise RuntimeError("inventory %r has no scm inventory source" % inventory["name"])
        inv_path = private / "project" / sources[0].get("source_path", "")
        if not inv_path.exists():
            raise RuntimeError("inventory source path %r is not in the project" % sources[0].get("source_path"))
        jt = self.store.get("job_templates", job["job_template"])
        extra = _vars(jt.get("extra_vars"))
        extra.update(json.loads(job["extra_vars"]))
        extra.update({
            "awx_job_id": job["id"], "tower_job_id": job["id"], "awx_job_launch_type": job["launch_type"],
            "awx_job_template_id": jt["id"], "awx_job_template_name": jt["name"], "awx_user_id": 1,
            "awx_user_name": "admin", "awx_project_revision": project.get("scm_revision", ""),
            "awx_project_scm_branch": project.get("scm_branch", ""), "awx_inventory_id": inventory["id"],
            "awx_inventory_name": inventory["name"], "awx_execution_node": "localhost"})
        if workflow is not None:
            extra.update({"awx_workflow_job_id": workflow["id"], "awx_workflow_job_name": workflow["name"],
                          "tower_workflow_job_id": workflow["id"]})
        env, passwords, args = self._injections(job, private)
        env.update({"JOB_ID": str(job["id"]), "INVENTORY_ID": str(inventory["id"]),
                    "PROJECT_REVISION": project.get("scm_revision", ""), "ANSIBLE_FORCE_COLOR": "False"})
        if job["job_type"] == "check":
            args.append("--check")
        (private / "env" / "extravars").write_text(json.dumps(extra))
        (private / "env" / "envvars").write_text(json.dumps(env))
        (private / "env" / "passwords").write_text(json.dumps(passwords))
        if args:
            (private / "env" / "cmdline").write_text(" ".join(args))
        for name in ("extravars", "envvars", "passwords"):
            (private / "env" / name).chmod(0o600)
        proc = subprocess.run(["ansible-runner", "run", str(private), "-p", job["playbook"], "--inventory",
                               str(inv_path), "--ident", "job"], capture_output=True, text=True,
                              check=False, env=self._proc_env(), timeout=jt.get("timeout") or None)
        artifacts = private / "artifacts" / "job"
        stdout = artifacts / "stdout"
        job["_stdout"] = stdout.read_text(errors="replace") if stdout.exists() else proc.stdout + proc.stderr
        status_file = artifacts / "status"
        status = status_file.read_text().strip() if status_file.exists() else "error"
        rc_file = artifacts / "rc"
        job["result_rc"] = int(rc_file.read_text().strip()) if rc_file.exists() else proc.returncode
        job["status"] = "successful" if status == "successful" else ("failed" if status == "failed" else "error")
        if proc.returncode != 0 and not status_file.exists():
            job["job_explanation"] = "ansible-runner exited with %d: %s" % (proc.returncode, proc.stderr[-2000:])

    def run_workflow(self, wj, nodes, extra):
        wj["status"] = "running"
        wj["started"] = now()
        start = time.monotonic()
        by_id = {n["id"]: n for n in nodes}
        children = {c for n in nodes for k in ("success_nodes", "failure_nodes", "always_nodes") for c in n[k]}
        ready = [n for n in nodes if n["id"] not in children]
        ran = []
        try:
            while ready:
                node = ready.pop(0)
                if node in ran:
                    continue
                ran.append(node)
                status = self._run_node(wj, node, extra)
                node["_status"] = status
                nxt = node["always_nodes"] + (node["success_nodes"] if status == "successful"
                                              else node["failure_nodes"])
                ready.extend(by_id[i] for i in nxt if by_id[i] not in ran)
        except Exception as exc:  # noqa: BLE001
            wj["job_explanation"] = "%s: %s" % (type(exc).__name__, exc)
            wj["status"] = "error"
        for node in nodes:
            if node not in ran:
                node["do_not_run"] = True
        if wj["status"] != "error":
            # AWX: the workflow fails when a node failed and nothing handles it (no failure or always link)
            unhandled = [n for n in ran if n.get("_status") != "successful"
                         and not n["failure_nodes"] and not n["always_nodes"]]
            wj["status"] = "failed" if unhandled else "successful"
            if unhandled:
                wj["job_explanation"] = "No error handling path for workflow job node(s) [%s]." % ", ".join(
                    "(%d,%s)" % (n["id"], n.get("_status")) for n in unhandled)
        wj["failed"] = wj["status"] != "successful"
        wj["finished"] = now()
        wj["elapsed"] = round(time.monotonic() - start, 3)

    def _run_node(self, wj, node, extra):
        ujt = self.store.get("unified_job_templates", node["unified_job_template"] or 0)
        if ujt is None:
            return "failed"
        lst = self.store.list_of(ujt)
        if lst == "workflow_approval_templates":
            return self._approval(wj, node, ujt)
        if lst != "job_templates":
            raise RuntimeError("workflow node %s runs a %s: only job templates and approvals run here"
                               % (node.get("identifier"), lst))
        body = {"extra_vars": dict(node.get("extra_data") or {}, **extra)}
        if node.get("inventory"):
            body["inventory"] = node["inventory"]
        job = self.launch_job_template(ujt, body, workflow=wj, node=node)
        node["job"] = ("jobs", job["id"])
        self.run_job(job, wj)
        return job["status"]

    def _approval(self, wj, node, template):
        approval = self.store.insert("workflow_approvals", {
            "name": template["name"], "description": template.get("description", ""),
            "workflow_approval_template": template["id"], "unified_job_template": template["id"],
            "status": "pending", "failed": False, "timed_out": False, "timeout": template.get("timeout", 0),
            "started": now(), "finished": None, "approved_or_denied_by": None, "can_approve_or_deny": True,
            "source_workflow_job": wj["id"], "workflow_job": wj["id"]})
        node["job"] = ("workflow_approvals", approval["id"])
        event = self.approval_events[approval["id"]] = threading.Event()
        timeout = template.get("timeout") or None
        if not event.wait(timeout):
            approval.update(status="failed", failed=True, timed_out=True, finished=now(),
                            job_explanation="The approval node timed out after %ss." % timeout)
        return approval["status"]

    def decide(self, approval, approve):
        if approval["status"] != "pending":
            raise ApiError(400, {"error": "This workflow step has already been approved or denied."})
        approval.update(status="successful" if approve else "failed", failed=not approve, finished=now(),
                        approved_or_denied_by={"id": 1, "username": "admin"}, can_approve_or_deny=False)
        self.approval_events[approval["id"]].set()
