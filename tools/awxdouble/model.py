"""The objects of the AWX API double: their fields, defaults, references and validation (see the package docstring).

``Store`` holds every object in memory, keyed by list name and id, and answers with AWX's serialisation
(``id``, ``type``, ``url``, ``related``, ``summary_fields``, secrets as ``$encrypted$``). Validation errors are
raised as :class:`ApiError` with AWX's status code and body.
"""

from __future__ import annotations

import datetime
import json
import threading

ENCRYPTED = "$encrypted$"


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(status, body)
        self.status = status
        self.body = body if isinstance(body, dict) else {"detail": body}


class F:
    """A writable field: default, the list a reference points into, required, choices, the JSON type."""

    def __init__(self, default=None, ref=None, required=False, choices=None, kind=None):
        self.default, self.ref, self.required, self.choices = default, ref, required, choices
        self.kind = kind or (type(default).__name__ if default is not None and not ref else ("int" if ref else "str"))


def _s(default=""):
    return F(default, kind="str")


def _b(default=False):
    return F(default, kind="bool")


def _i(default=0):
    return F(default, kind="int")


def _ref(lst, required=False):
    return F(None, ref=lst, required=required)


ASK = {"ask_%s_on_launch" % k: _b() for k in (
    "scm_branch", "diff_mode", "variables", "limit", "tags", "skip_tags", "job_type", "verbosity", "inventory",
    "credential", "execution_environment", "forks", "instance_groups", "job_slice_count", "labels", "timeout")}

# Writable fields of each configurable list (what the awx.awx modules send; a subset of AWX's serializers).
SCHEMAS = {
    "organizations": {"name": F(required=True), "description": _s(), "max_hosts": _i(),
                      "default_environment": _ref("execution_environments"), "custom_virtualenv": F()},
    "projects": {"name": F(required=True), "description": _s(), "organization": _ref("organizations", True),
                 "scm_type": F("", choices=["", "git", "svn", "insights", "archive"], kind="str"),
                 "scm_url": _s(), "scm_branch": _s(), "scm_refspec": _s(), "scm_clean": _b(),
                 "scm_delete_on_update": _b(), "scm_track_submodules": _b(), "scm_update_on_launch": _b(),
                 "scm_update_cache_timeout": _i(), "timeout": _i(), "allow_override": _b(),
                 "credential": _ref("credentials"), "signature_validation_credential": _ref("credentials"),
                 "default_environment": _ref("execution_environments"), "local_path": _s(),
                 "custom_virtualenv": F()},
    "credentials": {"name": F(required=True), "description": _s(), "organization": _ref("organizations"),
                    "credential_type": _ref("credential_types", True), "inputs": F({}, kind="dict"),
                    "user": F(kind="int"), "team": F(kind="int")},
    "inventories": {"name": F(required=True), "description": _s(), "organization": _ref("organizations", True),
                    "variables": _s(), "kind": F("", choices=["", "smart", "constructed"], kind="str"),
                    "host_filter": F(), "prevent_instance_group_fallback": _b()},
    "inventory_sources": {"name": F(required=True), "description": _s(), "inventory": _ref("inventories", True),
                          "source": F(required=True, choices=["scm", "file", "ec2", "gce", "azure_rm", "vmware",
                                                              "satellite6", "openstack", "rhv", "controller",
                                                              "insights", "constructed"]),
                          "source_project": _ref("projects"), "source_path": _s(), "source_vars": _s(),
                          "credential": _ref("credentials"), "execution_environment": _ref("execution_environments"),
                          "overwrite": _b(), "overwrite_vars": _b(), "update_on_launch": _b(),
                          "update_cache_timeout": _i(), "timeout": _i(), "verbosity": _i(1), "enabled_var": _s(),
                          "enabled_value": _s(), "host_filter": _s(), "scm_branch": _s(), "limit": _s(),
                          "custom_virtualenv": F()},
    "job_templates": dict({"name": F(required=True), "description": _s(), "organization": _ref("organizations"),
                           "job_type": F("run", choices=["run", "check"], kind="str"),
                           "inventory": _ref("inventories"), "project": _ref("projects", True),
                           "playbook": F(required=True), "scm_branch": _s(), "forks": _i(), "limit": _s(),
                           "verbosity": _i(), "extra_vars": _s(), "job_tags": _s(), "force_handlers": _b(),
                           "skip_tags": _s(), "start_at_task": _s(), "timeout": _i(), "use_fact_cache": _b(),
                           "host_config_key": _s(), "survey_enabled": _b(), "become_enabled": _b(),
                           "diff_mode": _b(), "allow_simultaneous": _b(), "custom_virtualenv": F(),
                           "job_slice_count": _i(1), "webhook_service": _s(),
                           "webhook_credential": _ref("credentials"),
                           "execution_environment": _ref("execution_environments"),
                           "prevent_instance_group_fallback": _b()}, **ASK),
    "workflow_job_templates": {"name": F(required=True), "description": _s(), "organization": _ref("organizations"),
                               "extra_vars": _s(), "survey_enabled": _b(), "allow_simultaneous": _b(),
                               "inventory": _ref("inventories"), "limit": F(), "scm_branch": F(),
                               "ask_inventory_on_launch": _b(), "ask_scm_branch_on_launch": _b(),
                               "ask_limit_on_launch": _b(), "ask_variables_on_launch": _b(),
                               "ask_labels_on_launch": _b(), "ask_tags_on_launch": _b(),
                               "ask_skip_tags_on_launch": _b(), "webhook_service": _s(),
                               "webhook_credential": _ref("credentials"), "job_tags": F(), "skip_tags": F()},
    "workflow_job_template_nodes": {"workflow_job_template": _ref("workflow_job_templates", True),
                                    "unified_job_template": _ref("unified_job_templates"), "identifier": F(),
                                    "inventory": _ref("inventories"), "extra_data": F({}, kind="dict"),
                                    "scm_branch": F(), "job_type": F(), "job_tags": F(), "skip_tags": F(),
                                    "limit": F(), "diff_mode": F(), "verbosity": F(), "forks": F(),
                                    "job_slice_count": F(), "timeout": F(), "execution_environment": F(),
                                    "all_parents_must_converge": _b()},
    "workflow_approval_templates": {"name": F(required=True), "description": _s(), "timeout": _i()},
}
READ_ONLY = {"id", "type", "url", "related", "summary_fields", "created", "modified"}
TYPE = {"organizations": "organization", "projects": "project", "project_updates": "project_update",
        "credential_types": "credential_type", "credentials": "credential", "inventories": "inventory",
        "inventory_sources": "inventory_source", "execution_environments": "execution_environment",
        "job_templates": "job_template", "workflow_job_templates": "workflow_job_template",
        "workflow_job_template_nodes": "workflow_job_template_node",
        "workflow_approval_templates": "workflow_approval_template", "jobs": "job", "workflow_jobs": "workflow_job",
        "workflow_job_nodes": "workflow_job_node", "workflow_approvals": "workflow_approval"}
LIST_OF_TYPE = {v: k for k, v in TYPE.items()}
UJT_LISTS = ("job_templates", "workflow_job_templates", "workflow_approval_templates", "projects",
             "inventory_sources")
# AWX's unified job templates and unified jobs are one table each: their ids are one sequence.
ID_SPACE = dict({lst: "unified_job_templates" for lst in UJT_LISTS},
                **{lst: "unified_jobs" for lst in ("jobs", "workflow_jobs", "project_updates", "workflow_approvals")})
# Name unique within (list, these fields), as AWX's model constraints.
UNIQUE = {"organizations": (), "projects": ("organization",), "credentials": ("organization", "credential_type"),
          "inventories": ("organization",), "inventory_sources": ("inventory",), "job_templates": ("organization",),
          "workflow_job_templates": ("organization",)}

# The managed credential types this API knows (AWX: awx/main/models/credential/__init__.py).
CREDENTIAL_TYPES = [
    {"name": "Machine", "kind": "ssh", "namespace": "ssh", "inputs": {"fields": [
        {"id": "username", "type": "string"}, {"id": "password", "type": "string", "secret": True},
        {"id": "ssh_key_data", "type": "string", "secret": True, "multiline": True}]}},
    {"name": "Source Control", "kind": "scm", "namespace": "scm", "inputs": {"fields": [
        {"id": "username", "type": "string"}, {"id": "password", "type": "string", "secret": True},
        {"id": "ssh_key_data", "type": "string", "secret": True, "multiline": True}]}},
    {"name": "Vault", "kind": "vault", "namespace": "vault", "inputs": {"fields": [
        {"id": "vault_password", "type": "string", "secret": True, "ask_at_runtime": True},
        {"id": "vault_id", "type": "string"}], "required": ["vault_password"]}},
    {"name": "OpenShift or Kubernetes API Bearer Token", "kind": "kubernetes",
     "namespace": "kubernetes_bearer_token", "inputs": {"fields": [
         {"id": "host", "type": "string"}, {"id": "bearer_token", "type": "string", "secret": True},
         {"id": "verify_ssl", "type": "boolean", "default": True},
         {"id": "ssl_ca_cert", "type": "string", "secret": True, "multiline": True}],
         "required": ["host", "bearer_token"]}},
]


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _type_ok(value, kind):
    if value is None:
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "dict":
        return isinstance(value, dict)
    return True


class Store:
    def __init__(self, api_prefix="/api/v2/"):
        self.prefix = api_prefix
        self.lock = threading.RLock()
        self.lists = {name: {} for name in TYPE}
        self.next_id = {ID_SPACE.get(name, name): 1 for name in TYPE}
        self.surveys = {}           # (list, id) -> spec
        self.assoc = {}             # (list, id, name) -> [ids]
        for ct in CREDENTIAL_TYPES:
            self.insert("credential_types", dict(ct, description="", managed=True, injectors={}))
        self.insert("execution_environments", {"name": "AWX EE (latest)", "image": "quay.io/ansible/awx-ee:latest",
                                               "organization": None, "description": "", "managed": False,
                                               "pull": ""})

    # -- raw storage -------------------------------------------------------------------------------------------
    def insert(self, lst, fields):
        with self.lock:
            space = ID_SPACE.get(lst, lst)
            oid = self.next_id[space]
            self.next_id[space] += 1
            obj = dict(fields, id=oid, created=now(), modified=now())
            self.lists[lst][oid] = obj
            return obj

    def get(self, lst, oid):
        if lst == "unified_job_templates":
            for sub in UJT_LISTS:
                obj = self.lists[sub].get(oid)
                if obj is not None:
                    return obj
            return None
        return self.lists.get(lst, {}).get(oid)

    def find(self, lst, oid):
        obj = self.get(lst, oid)
        if obj is None:
            raise ApiError(404, "Not found.")
        return obj

    def all(self, lst):
        if lst == "unified_job_templates":
            return sorted((o for sub in UJT_LISTS for o in self.lists[sub].values()), key=lambda o: o["id"])
        return list(self.lists[lst].values())

    def list_of(self, obj):
        for lst, objs in self.lists.items():
            if objs.get(obj["id"]) is obj:
                return lst
        raise KeyError(obj["id"])

    # -- validation --------------------------------------------------------------------------------------------
    def validate(self, lst, data, existing=None):
        """Return the fields to store; raise ApiError(400) the way AWX's serializers refuse."""
        schema = SCHEMAS[lst]
        errors = {}
        clean = {}
        for key, value in data.items():
            if key in READ_ONLY:
                continue
            field = schema.get(key)
            if field is None:
                errors[key] = ["'%s' is not a field of %s." % (key, TYPE[lst])]
                continue
            if not _type_ok(value, field.kind) and not (field.ref and isinstance(value, str) and value.isdigit()):
                errors[key] = ["Expected a %s, got %r." % ({"str": "string", "bool": "boolean", "int": "number",
                                                            "dict": "dictionary"}.get(field.kind, field.kind),
                                                           value)]
                continue
            if field.choices is not None and value is not None and value not in field.choices:
                errors[key] = ['"%s" is not a valid choice.' % value]
                continue
            if field.ref and value not in (None, ""):
                if self.get(field.ref, int(value)) is None:
                    errors[key] = ['Invalid pk "%s" - object does not exist.' % value]
                    continue
                value = int(value)
            clean[key] = value
        if existing is None:
            for key, field in schema.items():
                if field.required and clean.get(key) in (None, ""):
                    errors.setdefault(key, ["This field is required."])
        if errors:
            raise ApiError(400, errors)
        if lst == "credentials":
            self._validate_inputs(clean, existing)
        if lst == "projects":
            merged = dict(existing or {}, **clean)
            if merged.get("scm_type") and not merged.get("scm_url"):
                raise ApiError(400, {"scm_url": ["SCM URL is required."]})
        if lst == "inventory_sources":
            merged = dict(existing or {}, **clean)
            if merged.get("source") == "scm" and not merged.get("source_project"):
                raise ApiError(400, {"source_project": ["Project required for scm type sources."]})
        if "name" in clean and lst in UNIQUE:
            merged = dict(existing or {}, **clean)
            for other in self.lists[lst].values():
                if other is existing or other["name"] != clean["name"]:
                    continue
                if all(other.get(k) == merged.get(k) for k in UNIQUE[lst]):
                    raise ApiError(400, {"__all__": ["%s with this Name%s already exists." % (
                        TYPE[lst].replace("_", " ").capitalize(),
                        "".join(" and %s" % k.replace("_", " ").capitalize() for k in UNIQUE[lst]))]})
        return clean

    def _validate_inputs(self, clean, existing):
        ctype = self.get("credential_types", clean.get("credential_type") or existing["credential_type"])
        fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
        inputs = clean.get("inputs")
        if inputs is None:
            return
        old = (existing or {}).get("inputs", {})
        errors = {}
        merged = {}
        for key, value in inputs.items():
            if key not in fields:
                errors[key] = ["'%s' is not an input of the credential type %s." % (key, ctype["name"])]
                continue
            kind = fields[key]["type"]
            if value == ENCRYPTED and fields[key].get("secret"):
                if key in old:
                    merged[key] = old[key]
                continue
            if (kind == "boolean" and not isinstance(value, bool)) or (kind == "string" and not isinstance(value, str)):
                errors[key] = ["Expected a %s." % kind]
                continue
            merged[key] = value
        for key in ctype["inputs"].get("required", []):
            if merged.get(key) in (None, ""):
                errors.setdefault(key, ["required for %s." % ctype["name"]])
        if errors:
            raise ApiError(400, {"inputs": errors})
        clean["inputs"] = merged

    # -- serialisation -----------------------------------------------------------------------------------------
    def url(self, lst, oid):
        return "%s%s/%d/" % (self.prefix, lst, oid)

    def render(self, obj, lst=None):
        lst = lst or self.list_of(obj)
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        out["type"] = TYPE[lst]
        out["url"] = self.url(lst, obj["id"])
        related = {}
        summary = {}
        for key, field in SCHEMAS.get(lst, {}).items():
            if field.ref and out.get(key):
                target = self.get(field.ref, out[key])
                if target is not None:
                    tl = self.list_of(target)
                    related[key] = self.url(tl, target["id"])
                    summary[key] = {"id": target["id"], "name": target.get("name", target.get("identifier"))}
        base = self.url(lst, obj["id"])
        if lst == "credentials":
            ctype = self.get("credential_types", obj["credential_type"])
            secret = {f["id"] for f in ctype["inputs"]["fields"] if f.get("secret")}
            out["inputs"] = {k: (ENCRYPTED if k in secret and v not in ("", None) else v)
                             for k, v in obj.get("inputs", {}).items()}
            out["kind"] = ctype["kind"]
            out.pop("user", None)
            out.pop("team", None)
        if lst == "projects":
            related.update(update=base + "update/", project_updates=base + "project_updates/")
            if obj.get("_current_update"):
                summary["current_update"] = {"id": obj["_current_update"], "status": "running"}
        if lst in ("job_templates", "workflow_job_templates"):
            related.update(survey_spec=base + "survey_spec/", launch=base + "launch/")
        if lst == "job_templates":
            related["credentials"] = base + "credentials/"
            summary["credentials"] = [{"id": c, "name": self.get("credentials", c)["name"],
                                       "kind": self.get("credential_types",
                                                        self.get("credentials", c)["credential_type"])["kind"]}
                                      for c in self.assoc.get((lst, obj["id"], "credentials"), [])]
        if lst == "workflow_job_templates":
            related["workflow_nodes"] = base + "workflow_nodes/"
        if lst == "workflow_job_template_nodes":
            for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                related[kind] = base + kind + "/"
                out[kind] = list(self.assoc.get((lst, obj["id"], kind), []))
            related["create_approval_template"] = base + "create_approval_template/"
        if lst == "jobs":
            related["stdout"] = base + "stdout/"
        if lst == "workflow_jobs":
            related["workflow_nodes"] = base + "workflow_nodes/"
        if lst == "workflow_job_nodes" and obj.get("job"):
            job = obj["job"]
            related["job"] = self.url(job[0], job[1])
            out["job"] = job[1]
        if lst == "workflow_approvals":
            related["approve"] = base + "approve/"
            related["deny"] = base + "deny/"
        out["related"] = related
        out["summary_fields"] = summary
        return out

    # -- queries -----------------------------------------------------------------------------------------------
    def query(self, lst, params):
        """Objects of a list matching AWX's simple filters (exact field values, the or__ group)."""
        objs = self.all(lst)
        plain = {k: v for k, v in params.items() if k not in ("page", "page_size", "order_by", "format")}
        ors = {k[4:]: v for k, v in plain.items() if k.startswith("or__")}
        ands = {k: v for k, v in plain.items() if not k.startswith("or__")}
        known = set(SCHEMAS.get(lst, {})) | {"id", "name", "status", "kind", "managed", "namespace", "type",
                                             "workflow_job", "identifier", "organization"}
        for key in list(ors) + list(ands):
            if key.split("__")[0] not in known:
                raise ApiError(400, {"detail": "Invalid field name: %s" % key})

        def match(obj, key, value):
            field, dummy, op = key.partition("__")
            have = obj.get(field)
            if isinstance(have, tuple):
                have = have[1]
            if field == "type":
                have = TYPE[self.list_of(obj)]
            if op == "isnull":
                return (have is None) == (value.lower() == "true")
            if isinstance(have, bool):
                return str(have).lower() == value.lower()
            if have is None:
                return value in ("", "None", "null")
            return str(have) == value

        out = []
        for obj in objs:
            if not all(match(obj, k, v) for k, v in ands.items()):
                continue
            if ors and not any(match(obj, k, v) for k, v in ors.items()):
                continue
            out.append(obj)
        return out


def dumps(obj):
    return json.dumps(obj, indent=None, sort_keys=False)
