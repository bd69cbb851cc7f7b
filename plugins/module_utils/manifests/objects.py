# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest entries (the ``__supertodo_manifests`` contract): references, ordering by kind, Secret redaction."""

from __future__ import annotations

import base64
import copy

# Dependency order of kinds (docs/architecture.md); unknown kinds go after the known ones, in input order.
KIND_ORDER = [
    "Namespace", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding",
    "NetworkPolicy",
    "GitRepository", "HelmRepository", "OCIRepository", "HelmChart", "Bucket",
    "ObjectStore", "HelmRelease", "Kustomization", "ScheduledBackup",
    "ServiceMonitor", "PodMonitor", "PrometheusRule",
]

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"


def ref(obj):
    """``Kind namespace/name`` (or ``Kind name`` when cluster-scoped) for messages."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "?")
    if meta.get("namespace"):
        name = "%s/%s" % (meta["namespace"], name)
    return "%s %s" % (obj.get("kind", "?"), name)


def kind_rank(obj):
    kind = obj.get("kind")
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def order(entries):
    """Entries sorted by kind (stable: the roles' order is kept inside a kind)."""
    return sorted(entries, key=lambda e: kind_rank(e["object"]))


def is_secret(entry):
    return bool(entry.get("secret")) or entry["object"].get("kind") == "Secret"


def secret_values(obj):
    """Every value of a Secret, decoded and as sent, except user names (not secret, and too common to mask)."""
    values = set()
    for key, val in (obj.get("stringData") or {}).items():
        if key != "username" and val:
            values.add(str(val))
    for key, val in (obj.get("data") or {}).items():
        if key == "username" or not val:
            continue
        values.add(str(val))
        try:
            values.add(base64.b64decode(val, validate=True).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            pass
    return {v for v in values if v}


def redact(obj, compare_to=None):
    """A copy of an object fit for output: Secret data replaced, managedFields dropped.

    With ``compare_to`` (the object before), a Secret value that differs is marked ``<redacted, changed>`` so that
    a diff shows which keys change without showing a value.
    """
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    (out.get("metadata") or {}).pop("managedFields", None)
    if out.get("kind") == "Secret":
        old = (compare_to or {}).get("data") or {}
        for field in ("data", "stringData"):
            if isinstance(out.get(field), dict):
                out[field] = {k: REDACTED if compare_to is None or old.get(k) == v else REDACTED_CHANGED
                              for k, v in out[field].items()}
    return out


def validate_entries(entries):
    """Shape of the entries themselves; returns a list of problems."""
    problems = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("object"), dict):
            problems.append("entry %d: needs an 'object' dict" % i)
            continue
        obj = entry["object"]
        for field in ("apiVersion", "kind"):
            if not obj.get(field):
                problems.append("entry %d (%s): object has no %s" % (i, entry.get("path", "?"), field))
        if not (obj.get("metadata") or {}).get("name"):
            problems.append("entry %d (%s): object has no metadata.name" % (i, entry.get("path", "?")))
        path = entry.get("path")
        if not is_secret(entry) and (not path or path.startswith("/") or ".." in path.split("/")):
            problems.append("entry %d (%s): 'path' must be a relative path inside the render dir" % (i, ref(obj)))
    return problems
