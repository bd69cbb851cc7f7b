# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of every object before anything is applied or written.

* built-in kinds: kubernetes-validate in strict mode (unknown fields are errors) at a current Kubernetes version,
  always offline;
* custom resources: the ``openAPIV3Schema`` of the served version of their CRD, with jsonschema, plus a walk that
  reports fields the schema does not declare (the API server would prune them). The CRDs come, in this order,
  from ``<schema_dir>/crds`` when a schema dir is given, else from ``crd_loader`` (the CRDs the target cluster
  serves, read once), else nowhere: the kinds left unchecked are then listed once in ``warnings``;
* HelmRelease values: the chart's ``values.schema.json`` after merging the chart's ``values.yaml`` defaults, the
  way Helm validates them. The chart is the one given in ``charts`` (a chart that carries its own schema), else
  ``<schema_dir>/chart-values/<chart>``; without a schema dir, the charts left unchecked are listed in
  ``warnings``.
"""

from __future__ import annotations

import copy
import functools
import glob
import json
import os
import re

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import ref

try:
    import jsonschema
    import yaml
    HAS_DEPS = True
    DEPS_ERROR = None
    # libyaml's parser when PyYAML was built with it: the chart defaults and CRDs read here are thousands of lines
    _LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError as exc:  # pragma: no cover
    HAS_DEPS = False
    DEPS_ERROR = exc

try:
    import kubernetes_validate
    import kubernetes_validate.utils
    HAS_KV = True
    # kubernetes-validate reads and parses the kind's schema and the large _definitions.json again for every
    # object; the files do not change during a run, so each is parsed once per process (the validator only reads
    # them)
    if not hasattr(kubernetes_validate.utils.schema_contents, "cache_info"):
        kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
            kubernetes_validate.utils.schema_contents)
except ImportError:  # pragma: no cover
    HAS_KV = False

# the API group a CRD file declares (spec.group), found without parsing the YAML
_GROUP_LINE = re.compile(r"""^\s*["']?group["']?\s*:\s*["']?([A-Za-z0-9.-]+)""", re.M)

DEFAULT_KUBERNETES_VERSION = "1.30.0"


def _minor(version):
    parts = str(version).lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ValueError("kubernetes_version must be a version such as 1.30.0 (got %r)" % (version,)) from None


def schema_version(version, available=None):
    """The kubernetes-validate schema version that checks objects for a cluster of ``version``: the same minor when
    it is shipped, else the nearest shipped one (a 1.20 cluster is checked with the oldest schemas, 1.22, which
    still know the beta APIs 1.20 serves, such as CronJob batch/v1beta1)."""
    wanted = _minor(version)
    if available is None:
        available = kubernetes_validate.utils.all_versions() if HAS_KV else []
    shipped = sorted({_minor(v): v for v in available}.items())
    if not shipped:
        return str(version).lstrip("v")
    for minor, name in shipped:
        if minor == wanted:
            return name
    if wanted < shipped[0][0]:
        return shipped[0][1]
    if wanted > shipped[-1][0]:
        return shipped[-1][1]
    return min(shipped, key=lambda item: abs(item[0][1] - wanted[1]))[1]


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

    def __init__(self, schema_dir, charts=None, kubernetes_version=DEFAULT_KUBERNETES_VERSION, crd_loader=None):
        """``crd_loader``: a callable returning the CRD documents the target cluster serves, called at most once
        and only when ``schema_dir`` is empty; a loader that raises ``CrdsUnavailable`` leaves the custom
        resources unchecked (listed in ``warnings``)."""
        if not HAS_DEPS:
            raise ImportError("jsonschema and PyYAML are required: %s" % DEPS_ERROR)
        self.schema_dir = schema_dir or None
        self.charts = dict(charts or {})
        self.kubernetes_version = schema_version(kubernetes_version or DEFAULT_KUBERNETES_VERSION)
        self.crd_loader = crd_loader
        self._crds = None
        self._groups = {}
        self._crd_files = None          # [file, groups it declares, text until parsed] (schema dir)
        self._chart_cache = {}
        self.crd_source = None          # where the CRDs came from, for messages
        self.crd_unavailable = None     # why no CRDs could be read (no schema dir and no cluster, or an error)
        self.unchecked_kinds = set()    # custom kinds checked against no CRD
        self.unchecked_charts = set()   # charts whose values were checked against no schema

    # -- custom resources ----------------------------------------------------------------------------
    def _crd_documents(self, groups):
        """The CRD documents not read yet; from the schema dir, only the files that declare one of ``groups``
        (all files when ``groups`` is None, or when a file's group cannot be found without parsing it)."""
        if self.schema_dir:
            self.crd_source = "%s/crds" % self.schema_dir
            if self._crd_files is None:
                self._crd_files = []
                pattern = os.path.join(self.schema_dir, "crds", "**", "*.y*ml")
                for fname in sorted(glob.glob(pattern, recursive=True)):
                    with open(fname, encoding="utf-8") as fh:
                        text = fh.read()
                    self._crd_files.append([fname, set(_GROUP_LINE.findall(text)), text])
            for item in self._crd_files:
                dummy, declared, text = item
                if text is None or (groups is not None and declared and not declared & groups):
                    continue
                item[2] = None
                yield from yaml.load_all(text, Loader=_LOADER)  # nosec B506 - a safe loader
        elif self._crd_files is None:
            self._crd_files = []
            if self.crd_loader is not None:
                try:
                    docs = list(self.crd_loader())
                except CrdsUnavailable as exc:
                    self.crd_unavailable = str(exc)
                    return
                self.crd_source = "the CRDs the cluster serves"
                yield from docs
            else:
                self.crd_unavailable = "no schema dir and no cluster to read CRDs from"

    def crds(self, groups=None):
        """``{(apiVersion, kind): openAPIV3Schema}`` for every served version of every CRD of the source read so
        far: with ``groups``, at least those of these API groups (CRDs are parsed only when an object needs them)."""
        if self._crds is None:
            self._crds = {}
            self._groups = {}
        for doc in self._crd_documents(groups):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
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
        schema = self._crds[(obj["apiVersion"], obj["kind"])]
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
            chart_dir = self.charts.get(name) or (
                os.path.join(self.schema_dir, "chart-values", name) if self.schema_dir else None)
            if chart_dir is None:
                self._chart_cache[name] = None
                return None
            schema = defaults = None
            spath = os.path.join(chart_dir, "values.schema.json")
            vpath = os.path.join(chart_dir, "values.yaml")
            if os.path.isfile(spath):
                with open(spath, encoding="utf-8") as fh:
                    schema = json.load(fh)
            if os.path.isfile(vpath):
                with open(vpath, encoding="utf-8") as fh:
                    defaults = yaml.load(fh, Loader=_LOADER) or {}  # nosec B506 - a safe loader
            self._chart_cache[name] = (schema, defaults or {})
        return self._chart_cache[name]

    @staticmethod
    def chart_name(helmrelease):
        spec = (helmrelease.get("spec") or {}).get("chart", {}).get("spec", {})
        chart = spec.get("chart") or ""
        return os.path.basename(chart.rstrip("/"))

    def _values(self, obj):
        """Problems of a HelmRelease's ``spec.values`` against its chart's schema; a chart without one is skipped
        (and, when no schema dir is given, listed in ``unchecked_charts``)."""
        name = self.chart_name(obj)
        if not name:
            return []
        chart = self._chart(name)
        if chart is None or chart[0] is None:
            if not self.schema_dir:
                self.unchecked_charts.add(name)
            return []
        schema, defaults = chart
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
        self.crds({group})
        if (api_version, obj.get("kind")) in self._crds:
            problems = self._custom(obj)
            if obj["kind"] == "HelmRelease":
                problems.extend(self._values(obj))
            return problems
        if group in self._groups:
            return ["%s is not served by the %s CRDs in %s (served: %s)"
                    % (api_version, group, self.crd_source, ", ".join(sorted(self._groups[group])) or "none")]
        if is_custom(api_version):
            if self.crd_unavailable is not None:
                self.unchecked_kinds.add("%s %s" % (api_version, obj.get("kind")))
                if obj.get("kind") == "HelmRelease":
                    return self._values(obj)
                return []
            return ["no CRD for %s %s in %s" % (api_version, obj.get("kind"), self.crd_source)]
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

    @property
    def warnings(self):
        """What could not be checked, one message per kind of gap (empty when everything was checked)."""
        out = []
        if self.unchecked_kinds:
            out.append("custom resources not checked against a CRD (%s; set supertodo_schema_dir, or give a "
                       "kubeconfig to read the cluster's CRDs): %s"
                       % (self.crd_unavailable, ", ".join(sorted(self.unchecked_kinds))))
        if self.unchecked_charts:
            out.append("HelmRelease values not checked against a chart values schema (no schema dir, and the chart "
                       "carries none here): %s" % ", ".join(sorted(self.unchecked_charts)))
        return out


class CrdsUnavailable(Exception):
    """Raised by a ``crd_loader`` that cannot read the cluster's CRDs (e.g. no permission): a warning, not an
    error, since the API server still validates what it is sent."""


def is_custom(api_version):
    """Whether an apiVersion belongs to a custom resource (a dotted group outside ``*.k8s.io``)."""
    group = api_version.split("/")[0] if "/" in api_version else ""
    return "." in group and not group.endswith(".k8s.io")


def source_variable(problem, sources):
    """The inventory variable behind the field a problem names (the entry's optional ``sources``, field path ->
    variable name; the longest path that prefixes the problem's path wins)."""
    best = None
    for path, variable in (sources or {}).items():
        if problem.startswith(path) and problem[len(path):len(path) + 1] in (":", ".", "[", " "):
            if best is None or len(path) > len(best[0]):
                best = (path, variable)
    return best[1] if best else None
