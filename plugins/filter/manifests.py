# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the producing roles: the objects a role rendered from its templates, as manifest entries.

- ``manifest_entries``: objects -> the entries of ``__supertodo_manifests`` (or, with ``secret=true``, of
  ``__supertodo_secret_manifests``): ``{'path': ..., 'sources': ..., 'object': ...}`` (docs/architecture.md).
- ``manifest_refs``: entries -> ``{'kind', 'name', 'namespace'}`` of the objects of one kind (and namespace), in
  their order: what ``flux_reconcile`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _path_of(path, obj, index):
    if isinstance(path, str):
        return path
    if isinstance(path, Mapping):
        if obj.get("kind") not in path:
            raise AnsibleFilterError("manifest_entries: no path for kind %s (object %s)"
                                     % (obj.get("kind"), (obj.get("metadata") or {}).get("name", "?")))
        return path[obj["kind"]]
    if isinstance(path, Sequence) and index < len(path):
        return path[index]
    raise AnsibleFilterError("manifest_entries: path must be a string, a mapping of kind to path or one path per "
                             "object (object %d has none)" % index)


def manifest_entries(objects, path, sources=None, secret=False):
    """The manifest entries of ``objects`` in their order; empty documents (``None``) are skipped.

    ``path`` is where each object is rendered: one path for all, a mapping of kind to path, or a list with one
    path per object (counted without the empty documents). ``sources`` maps a kind to its field path -> inventory
    variable mapping (so that an invalid value is reported with its variable); an entry carries ``sources`` when
    its kind has one. ``secret`` marks the entries as Secrets (applied, never rendered).
    """
    if not isinstance(objects, Sequence) or isinstance(objects, (str, bytes)):
        raise AnsibleFilterError("manifest_entries: expects a list of objects, got %s" % type(objects).__name__)
    sources = sources or {}
    entries = []
    for obj in objects:
        if obj is None:
            continue
        if not isinstance(obj, Mapping):
            raise AnsibleFilterError("manifest_entries: object %d is a %s, not a mapping"
                                     % (len(entries), type(obj).__name__))
        entry = {"path": _path_of(path, obj, len(entries))}
        if secret:
            entry["secret"] = True
        if obj.get("kind") in sources:
            entry["sources"] = sources[obj["kind"]]
        entry["object"] = obj
        entries.append(entry)
    return entries


def manifest_refs(entries, kind, namespace=None, group=None):
    """``{'kind', 'name', 'namespace'}`` of each entry's object of ``kind``, in order; only those in ``namespace`` and
    of the API ``group`` (``apiVersion`` ``<group>/<version>``) when given."""
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
        raise AnsibleFilterError("manifest_refs: expects the manifest entries (a list), got %s" % type(entries).__name__)
    refs = []
    for index, entry in enumerate(entries):
        obj = entry.get("object") if isinstance(entry, Mapping) else None
        if not isinstance(obj, Mapping):
            raise AnsibleFilterError("manifest_refs: entry %d has no object" % index)
        metadata = obj.get("metadata") or {}
        if obj.get("kind") != kind or (namespace is not None and metadata.get("namespace") != namespace):
            continue
        if group is not None and not str(obj.get("apiVersion", "")).startswith(group + "/"):
            continue
        refs.append({"kind": kind, "name": metadata.get("name"), "namespace": metadata.get("namespace")})
    return refs


class FilterModule:
    """Manifest filters of the supertodo.platform producing roles."""

    def filters(self):
        return {"manifest_entries": manifest_entries, "manifest_refs": manifest_refs}
