"""The HTTP side of the AWX API double: routing of ``/api/v2/`` (see the package docstring)."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import PRODUCT_NAME, PRODUCT_VERSION
from .engine import Engine
from .model import SCHEMAS, TYPE, ApiError, Store, now

PREFIX = "/api/v2/"
CONFIGURABLE = set(SCHEMAS) - {"workflow_approval_templates"}
READ_ONLY_LISTS = {"credential_types", "execution_environments", "project_updates", "jobs", "workflow_jobs",
                   "workflow_job_nodes", "workflow_approvals", "unified_job_templates",
                   "workflow_approval_templates"}
SURVEY_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
STATUS_DEFAULTS = {"projects": {"scm_revision": "", "status": "new", "last_job_run": None},
                   "inventory_sources": {"status": "never updated"},
                   "job_templates": {"status": "never updated"}, "workflow_job_templates": {"status": "never updated"}}
LINKS = ("success_nodes", "failure_nodes", "always_nodes")


class Api:
    """The API's answers: ``handle(method, path, query, body) -> (status, json or None)``."""

    def __init__(self, state_dir, token, task_env):
        self.store = Store(PREFIX)
        self.engine = Engine(self.store, state_dir, task_env)
        self.token = token

    # -- lists and pages ---------------------------------------------------------------------------------------
    def page(self, path, lst, objs, params):
        size = int(params.get("page_size", 25))
        number = int(params.get("page", 1))
        objs = sorted(objs, key=lambda o: o["id"])
        chunk = objs[(number - 1) * size:number * size]

        def link(n):
            if n < 1 or (n - 1) * size >= len(objs):
                return None
            return "%s?%s" % (path, urlencode(dict(params, page=n)))

        return {"count": len(objs), "next": link(number + 1), "previous": link(number - 1) if number > 1 else None,
                "results": [self.store.render(o, self.store.list_of(o) if lst == "unified_job_templates" else lst)
                            for o in chunk]}

    # -- dispatch ----------------------------------------------------------------------------------------------
    def handle(self, method, path, params, body, auth):
        if not path.startswith(PREFIX):
            raise ApiError(404, "Not found.")
        parts = [p for p in path[len(PREFIX):].split("/") if p]
        if parts == ["ping"]:
            return 200, {"ha": False, "version": PRODUCT_VERSION, "active_node": "awxdouble", "install_uuid": "0",
                         "instances": [], "instance_groups": []}
        if auth != "Bearer %s" % self.token:
            raise ApiError(401, "Authentication credentials were not provided.")
        if not parts:
            return 200, {lst: PREFIX + lst + "/" for lst in sorted(TYPE)}
        if parts == ["config"]:
            return 200, {"version": PRODUCT_VERSION, "ansible_version": "2.19", "time_zone": "UTC",
                         "license_info": {"license_type": "open"}, "project_base_dir": str(self.engine.state)}
        if parts == ["me"]:
            return 200, {"count": 1, "next": None, "previous": None, "results": [
                {"id": 1, "type": "user", "username": "admin", "is_superuser": True}]}
        lst = parts[0]
        if lst not in TYPE and lst != "unified_job_templates":
            raise ApiError(404, "Not found.")
        if len(parts) == 1:
            return self.collection(method, path, lst, params, body)
        if not parts[1].isdigit():
            raise ApiError(404, "Not found.")
        obj = self.store.find(lst, int(parts[1]))
        if len(parts) == 2:
            return self.detail(method, lst, obj, body)
        if len(parts) == 3:
            return self.sub(method, path, lst, obj, parts[2], params, body)
        raise ApiError(404, "Not found.")

    def _allow(self, method, *allowed):
        if method not in allowed:
            raise ApiError(405, 'Method "%s" not allowed.' % method)

    def collection(self, method, path, lst, params, body):
        if lst in READ_ONLY_LISTS:
            self._allow(method, "GET", "HEAD")
        else:
            self._allow(method, "GET", "HEAD", "POST")
        if method in ("GET", "HEAD"):
            return 200, self.page(path, lst, self.store.query(lst, params), params)
        with self.store.lock:
            fields = self.store.validate(lst, body)
            self.check_node(lst, fields, None)
            if lst == "job_templates":
                self.check_playbook(fields, None)
            defaults = {k: f.default for k, f in SCHEMAS[lst].items() if not f.required}
            defaults.update(STATUS_DEFAULTS.get(lst, {}))
            obj = self.store.insert(lst, dict(copy.deepcopy(defaults), **fields))
        if lst == "projects" and obj.get("scm_type"):
            self.engine.start_project_update(obj)
        return 201, self.store.render(obj, lst)

    def detail(self, method, lst, obj, body):
        writable = lst in CONFIGURABLE or lst == "workflow_approval_templates"
        self._allow(method, *(("GET", "HEAD", "PATCH", "PUT", "DELETE") if writable else ("GET", "HEAD")))
        if method in ("GET", "HEAD"):
            return 200, self.store.render(obj, lst)
        if method == "DELETE":
            with self.store.lock:
                self.store.lists[lst].pop(obj["id"])
                for key in [k for k in self.store.assoc if k[0] == lst and k[1] == obj["id"]]:
                    self.store.assoc.pop(key)
                for key, ids in self.store.assoc.items():
                    if obj["id"] in ids and key[2] in LINKS and lst == "workflow_job_template_nodes":
                        ids.remove(obj["id"])
            return 204, None
        with self.store.lock:
            fields = self.store.validate(lst, body, existing=None if method == "PUT" else obj)
            self.check_node(lst, fields, obj)
            if lst == "job_templates":
                self.check_playbook(fields, obj)
            scm_changed = lst == "projects" and any(
                fields.get(k, obj.get(k)) != obj.get(k) for k in ("scm_url", "scm_branch", "scm_type"))
            obj.update(fields)
            obj["modified"] = now()
        if scm_changed:
            self.engine.start_project_update(obj)
        return 200, self.store.render(obj, lst)

    # -- checks that span objects ------------------------------------------------------------------------------
    def check_playbook(self, fields, existing):
        merged = dict(existing or {}, **fields)
        project = self.store.get("projects", merged.get("project"))
        if project is None or "playbook" not in fields and "project" not in fields:
            return
        checkout = self.engine.checkout_dir(project)
        if not (checkout / merged["playbook"]).is_file() or merged["playbook"].startswith(("/", "..")):
            raise ApiError(400, {"playbook": ["Playbook not found for project."]})

    def check_node(self, lst, fields, existing):
        if lst != "workflow_job_template_nodes":
            return
        merged = dict(existing or {}, **fields)
        if "identifier" in fields:
            for other in self.store.lists[lst].values():
                if other is not existing and other.get("identifier") == merged.get("identifier") and \
                        other["workflow_job_template"] == merged.get("workflow_job_template"):
                    raise ApiError(400, {"__all__": ["Workflow job template node with this Workflow job template "
                                                     "and Identifier already exists."]})
        ujt = self.store.get("unified_job_templates", merged.get("unified_job_template") or 0)
        if merged.get("inventory") and ujt is not None:
            if not (self.store.list_of(ujt) == "job_templates" and ujt.get("ask_inventory_on_launch")):
                raise ApiError(400, {"inventory": ["Field is not configured to prompt on launch."]})

    # -- sub-resources -----------------------------------------------------------------------------------------
    def sub(self, method, path, lst, obj, name, params, body):
        key = (lst, name)
        if key == ("projects", "update"):
            self._allow(method, "GET", "POST")
            if method == "GET":
                return 200, {"can_update": bool(obj.get("scm_type"))}
            update = self.engine.start_project_update(obj)
            return 202, {"id": update["id"], "project_update": update["id"],
                         "url": self.store.url("project_updates", update["id"])}
        if key == ("projects", "project_updates"):
            self._allow(method, "GET")
            return 200, self.page(path, "project_updates", [u for u in self.store.all("project_updates")
                                                            if u["project"] == obj["id"]], params)
        if name == "survey_spec" and lst in ("job_templates", "workflow_job_templates"):
            return self.survey(method, lst, obj, body)
        if name == "launch" and lst in ("job_templates", "workflow_job_templates"):
            self._allow(method, "GET", "POST")
            if method == "GET":
                spec = self.store.surveys.get((lst, obj["id"])) if obj.get("survey_enabled") else None
                return 200, {"can_start_without_user_input": not (spec and any(
                    q.get("required") for q in spec.get("spec", []))), "survey_enabled": bool(spec),
                    "ask_inventory_on_launch": bool(obj.get("ask_inventory_on_launch")),
                    "ask_variables_on_launch": bool(obj.get("ask_variables_on_launch"))}
            if lst == "job_templates":
                job = self.engine.launch_job_template(obj, body)
                out = self.store.render(job, "jobs")
                out.update(job=job["id"], ignored_fields=job["_ignored"])
                return 201, out
            wj = self.engine.launch_workflow(obj, body)
            out = self.store.render(wj, "workflow_jobs")
            out.update(workflow_job=wj["id"], ignored_fields={})
            return 201, out
        if key == ("job_templates", "credentials"):
            return self.credentials(method, path, obj, params, body)
        if key == ("workflow_job_templates", "workflow_nodes"):
            self._allow(method, "GET")
            return 200, self.page(path, "workflow_job_template_nodes", [
                n for n in self.store.all("workflow_job_template_nodes")
                if n["workflow_job_template"] == obj["id"]], params)
        if lst == "workflow_job_template_nodes" and name in LINKS:
            return self.links(method, path, obj, name, params, body)
        if key == ("workflow_job_template_nodes", "create_approval_template"):
            self._allow(method, "POST")
            with self.store.lock:
                fields = self.store.validate("workflow_approval_templates", body)
                tmpl = self.store.insert("workflow_approval_templates", fields)
                obj["unified_job_template"] = tmpl["id"]
            return 201, self.store.render(tmpl, "workflow_approval_templates")
        if key == ("jobs", "stdout"):
            self._allow(method, "GET")
            if params.get("format") in ("txt", "ansi", "txt_download"):
                return 200, obj["_stdout"]
            return 200, {"content": obj["_stdout"], "range": {"start": 0, "end": len(obj["_stdout"])}}
        if key == ("workflow_jobs", "workflow_nodes"):
            self._allow(method, "GET")
            return 200, self.page(path, "workflow_job_nodes", [
                n for n in self.store.all("workflow_job_nodes") if n["workflow_job"] == obj["id"]], params)
        if lst == "workflow_approvals" and name in ("approve", "deny"):
            self._allow(method, "POST")
            self.engine.decide(obj, name == "approve")
            return 204, None
        raise ApiError(404, "Not found.")

    def survey(self, method, lst, obj, body):
        self._allow(method, "GET", "POST", "DELETE")
        key = (lst, obj["id"])
        if method == "GET":
            return 200, self.store.surveys.get(key, {})
        if method == "DELETE":
            self.store.surveys.pop(key, None)
            return 200, None
        for field in ("name", "description", "spec"):
            if field not in body:
                raise ApiError(400, {"error": "'%s' missing from survey spec." % field})
        if not isinstance(body["spec"], list):
            raise ApiError(400, {"error": "'spec' must be a list of items."})
        seen = set()
        for i, q in enumerate(body["spec"]):
            for field in ("question_name", "variable", "type", "required"):
                if field not in q:
                    raise ApiError(400, {"error": "'%s' missing from survey question %d." % (field, i)})
            if q["type"] not in SURVEY_TYPES:
                raise ApiError(400, {"error": "'%s' in survey question %d is not one of '%s' allowed question "
                                              "types." % (q["type"], i, "', '".join(SURVEY_TYPES))})
            if q["variable"] in seen:
                raise ApiError(400, {"error": "'variable' '%s' duplicated in survey question %d." % (q["variable"], i)})
            seen.add(q["variable"])
        self.store.surveys[key] = body
        return 200, None

    def credentials(self, method, path, jt, params, body):
        self._allow(method, "GET", "POST")
        key = ("job_templates", jt["id"], "credentials")
        ids = self.store.assoc.setdefault(key, [])
        if method == "GET":
            return 200, self.page(path, "credentials", [self.store.get("credentials", i) for i in ids], params)
        cid = body.get("id")
        cred = self.store.get("credentials", cid) if isinstance(cid, int) else None
        if cred is None:
            raise ApiError(400, {"msg": 'Invalid pk "%s" - object does not exist.' % cid})
        if body.get("disassociate"):
            if cid in ids:
                ids.remove(cid)
            return 204, None
        if cid not in ids:
            for other in ids:
                o = self.store.get("credentials", other)
                same_vault = o["inputs"].get("vault_id") == cred["inputs"].get("vault_id")
                if o["credential_type"] == cred["credential_type"] and (
                        self.store.get("credential_types", o["credential_type"])["kind"] != "vault" or same_vault):
                    raise ApiError(400, {"error": "Cannot assign multiple %s credentials." % self.store.get(
                        "credential_types", cred["credential_type"])["name"]})
            ids.append(cid)
        return 204, None

    def links(self, method, path, node, kind, params, body):
        self._allow(method, "GET", "POST")
        key = ("workflow_job_template_nodes", node["id"], kind)
        ids = self.store.assoc.setdefault(key, [])
        if method == "GET":
            return 200, self.page(path, "workflow_job_template_nodes",
                                  [self.store.get("workflow_job_template_nodes", i) for i in ids], params)
        cid = body.get("id")
        child = self.store.get("workflow_job_template_nodes", cid) if isinstance(cid, int) else None
        if child is None:
            raise ApiError(400, {"msg": 'Invalid pk "%s" - object does not exist.' % cid})
        if body.get("disassociate"):
            if cid in ids:
                ids.remove(cid)
            return 204, None
        if child["workflow_job_template"] != node["workflow_job_template"]:
            raise ApiError(400, {"Error": "Cannot associate two nodes of different workflow job templates."})
        if cid == node["id"] or self._reaches(cid, node["id"]):
            raise ApiError(400, {"Error": "Cycle detected."})
        for other in LINKS:
            if other != kind and cid in self.store.assoc.get(("workflow_job_template_nodes", node["id"], other), []):
                raise ApiError(400, {"Error": "Multiple edge types detected between nodes %d and %d."
                                              % (node["id"], cid)})
        if cid not in ids:
            ids.append(cid)
        return 204, None

    def _reaches(self, start, target):
        todo, seen = [start], set()
        while todo:
            nid = todo.pop()
            if nid == target:
                return True
            if nid in seen:
                continue
            seen.add(nid)
            for kind in LINKS:
                todo.extend(self.store.assoc.get(("workflow_job_template_nodes", nid, kind), []))
        return False


def make_handler(api):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "awxdouble"

        def log_message(self, fmt, *args):  # quiet; the tests read the API, not the log
            return

        def _serve(self):
            split = urlsplit(self.path)
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, payload = 500, {"detail": "internal error"}
            try:
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise ApiError(400, "JSON parse error - request body is not valid JSON.") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Expected a JSON object.")
                status, payload = api.handle(self.command, split.path if split.path.endswith("/") else
                                             split.path + "/", params, body, self.headers.get("Authorization"))
            except ApiError as err:
                status, payload = err.status, err.body
            except Exception as exc:  # noqa: BLE001 - a server error is a 500, as in AWX
                status, payload = 500, {"detail": "%s: %s" % (type(exc).__name__, exc)}
            if isinstance(payload, str):
                data, ctype = payload.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = (b"" if payload is None else json.dumps(payload).encode()), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else 0))
            self.send_header("X-API-Product-Name", PRODUCT_NAME)
            self.send_header("X-API-Product-Version", PRODUCT_VERSION)
            self.send_header("X-API-Node", "awxdouble")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="api"')
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


def serve(state_dir, token, task_env, port=0):
    """Start the API on 127.0.0.1 in a thread; returns (server, api). ``server.server_address[1]`` is the port."""
    api = Api(state_dir, token, task_env)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(api))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, api
