# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline validation of every object before anything is applied or written.

* built-in kinds: kubernetes-validate in strict mode (unknown fields are errors) at a current Kubernetes version;
* custom resources: the ``openAPIV3Schema`` of the served version in the CRDs under ``<schema_dir>/crds``, with
  jsonschema, plus a walk that reports fields the schema does not declare (the API server would prune them);
* HelmRelease values: the chart's ``values.schema.json`` after merging the chart's ``values.yaml`` defaults, the
  way Helm validates them.
"""

from __future__ import annotations

import copy
import glob
import json
import os

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import ref

try:
    import jsonschema
    import yaml
    HAS_DEPS = True
    DEPS_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_DEPS = False
    DEPS_ERROR = exc

try:
    import kubernetes_validate
    HAS_KV = True
except ImportError:  # pragma: no cover
    HAS_KV = False

DEFAULT_KUBERNETES_VERSION = "1.30.0"


def _fmt_path(parts):
    out = ""
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else (".%s" % p if out else str(p))
    return out or "(root)"


def _deep_merge(base, over):
    out = copy.deepcopy(base)
    for key, val in (over or {}).items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def undeclared_fields(value, schema, path=()):
    """Paths of fields in ``value`` that an OpenAPI v3 structural ``schema`` does not declare."""
    found = []
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return found
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        for key, sub in value.items():
            if props is not None and key in props:
                found.extend(undeclared_fields(sub, props[key], path + (key,)))
            elif isinstance(addl, dict):
                found.extend(undeclared_fields(sub, addl, path + (key,)))
            elif addl is True or (props is None and addl is None and schema.get("type") != "object"):
                continue
            elif props is None and addl is None:
                # ``type: object`` without properties: pruned by the API server
                found.append(_fmt_path(path + (key,)))
            else:
                found.append(_fmt_path(path + (key,)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found.extend(undeclared_fields(item, schema["items"], path + (i,)))
    return found


class Validator:
    """Validates objects; ``problems(entries)`` returns one message per problem (empty when all valid)."""

    def __init__(self, schema_dir, charts=None, kubernetes_version=DEFAULT_KUBERNETES_VERSION):
        if not HAS_DEPS:
            raise ImportError("jsonschema and PyYAML are required: %s" % DEPS_ERROR)
        self.schema_dir = schema_dir
        self.charts = dict(charts or {})
        self.kubernetes_version = kubernetes_version
        self._crds = None
        self._chart_cache = {}

    # -- custom resources ----------------------------------------------------------------------------
    def crds(self):
        """``{(apiVersion, kind): openAPIV3Schema}`` for every served version of every CRD in the schema dir."""
        if self._crds is None:
            self._crds = {}
            self._groups = {}
            pattern = os.path.join(self.schema_dir or "", "crds", "**", "*.y*ml")
            for fname in sorted(glob.glob(pattern, recursive=True)):
                with open(fname, encoding="utf-8") as fh:
                    for doc in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                        if not doc or doc.get("kind") != "CustomResourceDefinition":
                            continue
                        spec = doc["spec"]
                        for ver in spec.get("versions", []):
                            api_version = "%s/%s" % (spec["group"], ver["name"])
                            self._groups.setdefault(spec["group"], set())
                            if ver.get("served"):
                                self._groups[spec["group"]].add(api_version)
                                self._crds[(api_version, spec["names"]["kind"])] = \
                                    (ver.get("schema") or {}).get("openAPIV3Schema") or {}
        return self._crds

    def _custom(self, obj):
        schema = self.crds()[(obj["apiVersion"], obj["kind"])]
        problems = []
        body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
        sch = dict(schema)
        sch["properties"] = {k: v for k, v in (schema.get("properties") or {}).items() if k != "metadata"}
        if "required" in sch:
            sch["required"] = [r for r in sch["required"] if r not in ("metadata", "apiVersion", "kind")]
        validator = jsonschema.Draft7Validator(sch)
        for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            problems.append("%s: %s" % (_fmt_path(list(err.absolute_path)), err.message))
        for path in undeclared_fields(body, sch):
            problems.append("%s: field not declared in the CRD schema (the API server would prune it)" % path)
        return problems

    # -- chart values ----------------------------------------------------------------------------------
    def _chart(self, name):
        if name not in self._chart_cache:
            chart_dir = self.charts.get(name) or os.path.join(self.schema_dir or "", "chart-values", name)
            schema = defaults = None
            spath = os.path.join(chart_dir, "values.schema.json")
            vpath = os.path.join(chart_dir, "values.yaml")
            if os.path.isfile(spath):
                with open(spath, encoding="utf-8") as fh:
                    schema = json.load(fh)
            if os.path.isfile(vpath):
                with open(vpath, encoding="utf-8") as fh:
                    defaults = yaml.safe_load(fh) or {}
            self._chart_cache[name] = (schema, defaults or {})
        return self._chart_cache[name]

    @staticmethod
    def chart_name(helmrelease):
        spec = (helmrelease.get("spec") or {}).get("chart", {}).get("spec", {})
        chart = spec.get("chart") or ""
        return os.path.basename(chart.rstrip("/"))

    def _values(self, obj):
        """Problems of a HelmRelease's ``spec.values`` against its chart's schema; a chart without one is skipped."""
        name = self.chart_name(obj)
        if not name:
            return []
        schema, defaults = self._chart(name)
        if schema is None:
            return []
        values = _deep_merge(defaults, (obj.get("spec") or {}).get("values") or {})
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        problems = []
        for err in sorted(cls(schema).iter_errors(values), key=lambda e: list(e.absolute_path)):
            problems.append("spec.values.%s: %s (chart %s values.schema.json)"
                            % (_fmt_path(list(err.absolute_path)), err.message, name))
        return problems

    # -- built-in kinds ----------------------------------------------------------------------------------
    def _builtin(self, obj):
        if not HAS_KV:
            return ["kubernetes-validate is not installed"]
        try:
            kubernetes_validate.validate(obj, self.kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            return ["%s: %s" % (_fmt_path(list(err.path)), err.message)]
        except kubernetes_validate.SchemaNotFoundError:
            return ["%s %s is not a Kubernetes %s kind" % (obj["apiVersion"], obj["kind"], self.kubernetes_version)]
        return []

    def validate_object(self, obj):
        api_version = obj.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        self.crds()
        if (api_version, obj.get("kind")) in self._crds:
            problems = self._custom(obj)
            if obj["kind"] == "HelmRelease":
                problems.extend(self._values(obj))
            return problems
        if group in self._groups:
            return ["%s is not served by the %s CRDs in the schema dir (served: %s)"
                    % (api_version, group, ", ".join(sorted(self._groups[group])) or "none")]
        if "." in group and not group.endswith(".k8s.io"):
            return ["no CRD for %s %s in %s/crds" % (api_version, obj.get("kind"), self.schema_dir)]
        return self._builtin(obj)

    def problems(self, entries):
        out = []
        for entry in entries:
            obj = entry["object"]
            where = entry.get("path") or "(not rendered)"
            for problem in self.validate_object(obj):
                variable = source_variable(problem, entry.get("sources"))
                hint = " [inventory variable %s]" % variable if variable else ""
                out.append("%s (%s): %s%s" % (ref(obj), where, problem, hint))
        return out


def source_variable(problem, sources):
    """The inventory variable behind the field a problem names (the entry's optional ``sources``, field path ->
    variable name; the longest path that prefixes the problem's path wins)."""
    best = None
    for path, variable in (sources or {}).items():
        if problem.startswith(path) and problem[len(path):len(path) + 1] in (":", ".", "[", " "):
            if best is None or len(path) > len(best[0]):
                best = (path, variable)
    return best[1] if best else None
