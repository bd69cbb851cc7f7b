"""Install the upstream CRDs on the 1.20 apiserver, converted down.

Kubernetes 1.20 rejects two things these CRDs use: CEL rules (``x-kubernetes-validations``, 1.25+) and
``default: ""`` on strings (the 1.20 apiserver rejects a string default that fails the schema, e.g. an empty
string under minLength/enum/pattern, and a structural default it cannot prune). The conversion drops ONLY those
keys and keeps everything else (types, enums, patterns, required, list/map markers), so types are still
enforced. What was dropped is recorded, per CRD, as JSON Pointers into the original document.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import yaml

from localkube import LocalClusterError
from localkube.rest import ApiError

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DROPPED_FILE = "crd-dropped.json"


def _escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


def convert(crd: dict):
    """Return (converted copy, [ {pointer, key, value} ]) for one CRD document."""
    out = copy.deepcopy(crd)
    dropped = []

    def walk(node, pointer):
        if isinstance(node, dict):
            if "x-kubernetes-validations" in node:
                dropped.append({"pointer": pointer + "/x-kubernetes-validations", "key": "x-kubernetes-validations",
                                "value": node.pop("x-kubernetes-validations")})
            if node.get("default") == "" and node.get("type") == "string":
                node.pop("default")
                dropped.append({"pointer": pointer + "/default", "key": "default", "value": ""})
            for k, v in node.items():
                walk(v, "%s/%s" % (pointer, _escape(k)))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (pointer, i))

    for i, version in enumerate(out.get("spec", {}).get("versions", [])):
        schema = version.get("schema")
        if schema is not None:
            walk(schema, "/spec/versions/%d/schema" % i)
    return out, dropped


def crd_files(schema_dir: Path):
    files = sorted((Path(schema_dir) / "crds").rglob("*.yaml")) + sorted((Path(schema_dir) / "crds").rglob("*.yml"))
    if not files:
        raise LocalClusterError("no CRDs found under %s/crds; set SUPERTODO_SCHEMA_DIR" % schema_dir)
    return files


def load(schema_dir: Path):
    """[(file, original CRD)] for every CRD document in the schema dir."""
    out = []
    for f in crd_files(schema_dir):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                out.append((f, doc))
    return out


def install(rest, schema_dir: Path, state_dir: Path, timeout=120.0):
    """Create or update every CRD (converted), wait until each is Established, record what was dropped."""
    record = {}
    names = []
    for f, original in load(schema_dir):
        crd, dropped = convert(original)
        name = crd["metadata"]["name"]
        names.append(name)
        record[name] = {"file": str(f.relative_to(schema_dir)), "dropped": dropped}
        try:
            current = rest.get("%s/%s" % (CRD_PATH, name))
        except ApiError as exc:
            if exc.status != 404:
                raise LocalClusterError("CRD %s: cannot read it: %s" % (name, exc)) from exc
            current = None
        try:
            if current is None:
                rest.request("POST", CRD_PATH, crd)
            else:
                crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                rest.request("PUT", "%s/%s" % (CRD_PATH, name), crd)
        except ApiError as exc:
            raise LocalClusterError("CRD %s (%s) rejected by the apiserver: %s" % (name, f.name, exc)) from exc
    (Path(state_dir) / DROPPED_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            obj = rest.get("%s/%s" % (CRD_PATH, name))
            conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
            if conds.get("Established") == "True" and conds.get("NamesAccepted") == "True":
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise LocalClusterError("CRDs not Established after %ss: %s" % (timeout, ", ".join(sorted(pending))))
        if pending:
            time.sleep(0.2)
    return record
