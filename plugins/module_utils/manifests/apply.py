# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply of the manifest entries, with conflict detection, change detection and prune detection.

Per object: one GET (the state before, for ``changed``, the diff and the managers of the object) and one PATCH
``application/apply-patch+yaml`` with ``fieldManager`` (``dryRun=All`` in check mode): two requests for a no-op (a
custom resource that is created gets a second PATCH, see ``apply_object``). Where each kind lives comes from the
discovery cache (``discovery.py``) when it is warm, so a no-op run adds no discovery request; a GET that answers 404
for a cached group/version has that group/version discovered again before the create.
``changed`` compares the object before and after without its bookkeeping metadata.

Conflicts: server-side apply refuses (409) to change a field another field manager owns unless ``force`` is set.
Conflicts are not forced by default: before anything is written, every object that another manager also manages
(``metadata.managedFields``, status-only managers aside) is applied once as a server-side dry run without
``force``; the conflicts of all objects are gathered and reported together (object, field path, owning manager),
and nothing is written. With ``force_conflicts`` the same dry run lists what will be taken over, and the apply
forces it.

Prune detection: an API server whose schema lacks a field (Kubernetes 1.20 for newer fields, a CRD older than the
manifest) drops the field and answers 200. Every field path that was sent with a non-empty value and is absent
from the answer is reported; values are not compared, so defaulting and quantity/int normalisation do not count.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import ApplyFailed, Conflicts, FieldsPruned
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import order, redact, ref

_UNKNOWN_FIELD = re.compile(r"(\.[^\s:]+): field not declared in schema")
# The API server's words for a conflict (k8s.io/apimachinery fieldmanager): a cause per field, type
# FieldManagerConflict, message 'conflict with "<manager>"' (' using <apiVersion>' when the manager made an Update,
# ' with subresource "<s>"' on newer servers) and field '.data.a'; the Status message repeats them, as
# 'conflict with "m" using v1: .data.a' for one and 'conflicts with "m" using v1:\n- .data.a\n- .data.b' for several.
_MANAGER = re.compile(r'conflicts? with "([^"]+)"')
_MESSAGE_CONFLICTS = re.compile(r'conflicts? with "([^"]+)"[^:\n]*:((?:\n- \S+)+| \S+)')
_PREDICT = object()  # check mode: the object cannot be read because its kind is not served yet
_BOOKKEEPING = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid", "selfLink")
# list items are matched by the first of these keys both sides have, else by position
_MERGE_KEYS = ("name", "containerPort", "port", "type", "key", "ip", "topologyKey", "mountPath", "devicePath")


def _empty(value):
    return value is None or value == {} or value == [] or value == ""


def _fmt(path):
    out = ""
    for p in path:
        out += "[%s]" % p if isinstance(p, (int,)) or (isinstance(p, str) and p.startswith("=")) else \
            (".%s" % p if out else p)
    return out


def _match(item, candidates, index):
    if isinstance(item, dict):
        for key in _MERGE_KEYS:
            if key in item and not isinstance(item[key], (dict, list)):
                for cand in candidates:
                    if isinstance(cand, dict) and cand.get(key) == item[key]:
                        return cand, "=%s=%s" % (key, item[key])
                return None, "=%s=%s" % (key, item[key])
    if index < len(candidates):
        return candidates[index], index
    return None, index


def dropped_fields(sent, kept, path=()):
    """Field paths present (non-empty) in ``sent`` and missing from ``kept``."""
    found = []
    if isinstance(sent, dict) and isinstance(kept, dict):
        for key, val in sent.items():
            if _empty(val):
                continue
            if key not in kept:
                found.append(_fmt(path + (key,)))
            else:
                found.extend(dropped_fields(val, kept[key], path + (key,)))
    elif isinstance(sent, list) and isinstance(kept, list):
        for i, item in enumerate(sent):
            if _empty(item):
                continue
            other, label = _match(item, kept, i)
            if other is None:
                found.append(_fmt(path + (label,)))
            else:
                found.extend(dropped_fields(item, other, path + (label,)))
    return found


def _is_custom(obj):
    group = obj.get("apiVersion", "").rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def conflicts_of(exc):
    """``[{"field": ..., "manager": ...}]`` from a 409 answer to a server-side apply."""
    found = []
    body = exc.body if isinstance(exc.body, dict) else {}
    for cause in (body.get("details") or {}).get("causes") or []:
        if cause.get("type") != "FieldManagerConflict":
            continue
        match = _MANAGER.search(cause.get("message") or "")
        found.append({"field": cause.get("field") or "?", "manager": match.group(1) if match else "?"})
    if not found or all(c["field"] == "?" for c in found):
        text = body.get("message") or str(exc)
        found = [{"field": field.strip().lstrip("- ").strip(), "manager": manager}
                 for manager, fields in _MESSAGE_CONFLICTS.findall(text)
                 for field in (fields.split("\n- ") if "\n- " in fields else [fields])
                 if field.strip().lstrip("- ").strip()]
    return found or [{"field": "? (%s)" % (body.get("message") or exc), "manager": "?"}]


def _field_paths(fields, prefix=()):
    """Leaf paths of a managedFields ``fieldsV1`` tree; list items and set values (``k:``, ``v:``, ``i:``) as ``*``."""
    out = []
    for key, sub in (fields or {}).items():
        if key == ".":
            continue
        step = key[2:] if key.startswith("f:") else "*"
        if sub:
            out.extend(_field_paths(sub, prefix + (step,)))
        else:
            out.append(prefix + (step,))
    return out


def _sent_paths(value, prefix=()):
    """Leaf paths of what is sent; list items as ``*``."""
    if isinstance(value, dict) and value:
        out = []
        for key, sub in value.items():
            out.extend(_sent_paths(sub, prefix + (key,)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = []
        for sub in value:
            out.extend(_sent_paths(sub, prefix + ("*",)))
        return out
    return [prefix]


def _overlap(a, b):
    n = min(len(a), len(b))
    return all(x == y or "*" in (x, y) for x, y in zip(a[:n], b[:n]))


def other_managers(obj, field_manager, sent=None):
    """Managers of ``obj`` other than ``field_manager`` that own fields outside ``status`` (and, given ``sent``,
    fields that overlap what is sent: only those can conflict)."""
    out = set()
    sent_paths = _sent_paths({k: v for k, v in sent.items() if k not in ("apiVersion", "kind")}) if sent else None
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        manager = entry.get("manager")
        if not manager or manager == field_manager or entry.get("subresource") == "status":
            continue
        fields = entry.get("fieldsV1") or {}
        if fields and set(fields) <= {"f:status"}:
            continue
        if sent_paths is not None and fields:
            theirs = [p for p in _field_paths(fields) if p[:1] != ("status",)]
            if not any(_overlap(t, mine) for t in theirs for mine in sent_paths):
                continue
        out.add(manager)
    return sorted(out)


def comparable(obj):
    """The object without server bookkeeping, for check-mode comparison."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in _BOOKKEEPING:
        meta.pop(key, None)
    out.pop("status", None)
    return out


class Applier:
    """Applies ordered entries through a ``KubeClient``-like object (``get`` and ``patch``).

    ``force``: take over the fields other managers own (server-side apply ``force=true``); otherwise a conflict
    found by the dry run that precedes every write fails the whole apply before anything is written.
    """

    def __init__(self, client, field_manager, check_mode=False, force=False, discovery=None):
        self.client = client
        self.discovery = discovery
        self.field_manager = field_manager
        self.check_mode = check_mode
        self.force = force
        self.taken = []

    def _query(self, dry_run=False, force=None):
        query = {"fieldManager": self.field_manager}
        if self.force if force is None else force:
            query["force"] = "true"
        if self.check_mode or dry_run:
            query["dryRun"] = "All"
        return query

    def _get(self, obj):
        meta = obj["metadata"]
        before = self.client.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if self.discovery is not None:
            if before is None:
                # cached discovery is trusted only once the server confirms it: a 404 may mean "not served"
                self.discovery.recheck(self.client, obj["apiVersion"], obj["kind"])
            else:
                self.discovery.confirm(obj["apiVersion"])
        return before

    def conflicts(self, obj, before):
        """Conflicts a non-forced apply of ``obj`` would meet: a dry run, only when another manager shares it."""
        if before is None or not other_managers(before, self.field_manager, sent=obj):
            return []
        meta = obj["metadata"]
        try:
            self.client.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), obj,
                              patch_type="apply", query=self._query(dry_run=True, force=False))
        except ApiError as exc:
            if exc.status == 409:
                return conflicts_of(exc)
            # anything else is reported by the apply itself, with its own message
        return []

    def apply_object(self, obj, before=None, known=False):
        """Returns a result dict: ref, changed, action, before/after (redacted).

        ``known``: ``before`` was already read (the conflict pass), no second GET.
        """
        meta = obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        label = ref(obj)
        query = self._query()
        try:
            if not known:
                before = self._get(obj)
            after = self.client.patch(obj["apiVersion"], obj["kind"], name, namespace, obj,
                                      patch_type="apply", query=query)
        except ApiError as exc:
            if self.check_mode and exc.status == 404 and before is None:
                # dry-run of an object whose namespace (or CRD) is itself only being created in this run
                return self._predicted(obj, label)
            if exc.status == 409:
                raise Conflicts([(label, conflicts_of(exc))]) from exc
            unknown = _UNKNOWN_FIELD.findall(str(exc))
            if unknown:
                # server-side apply on Kubernetes 1.20 refuses (HTTP 500) what a typed schema lacks
                raise FieldsPruned(label, [u.lstrip(".") for u in unknown], how="refused") from exc
            raise ApplyFailed("%s: server-side apply failed: %s" % (label, exc)) from exc
        if before is None and not self.check_mode and _is_custom(obj):
            # Kubernetes 1.20 stores a custom resource created by server-side apply in a form that the next
            # identical apply rewrites once (a new resourceVersion, no visible difference); applying it again
            # right away settles it, so that the next converge is a true no-op.
            try:
                after = self.client.patch(obj["apiVersion"], obj["kind"], name, namespace, obj,
                                          patch_type="apply", query=query)
            except ApiError as exc:
                raise ApplyFailed("%s: server-side apply failed: %s" % (label, exc)) from exc
        pruned = dropped_fields({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, after)
        if pruned:
            raise FieldsPruned(label, pruned)
        if before is None:
            changed, action = True, "create"
        else:
            # Compare what the object says, not its resourceVersion: Kubernetes 1.20 rewrites managedFields (a new
            # resourceVersion, nothing else) on an identical apply after another manager updated the object, as
            # the quota admission does to a ResourceQuota's status whenever pods come and go.
            changed = comparable(before) != comparable(after)
            action = "update" if changed else "unchanged"
        return {
            "ref": label, "kind": obj["kind"], "name": name, "namespace": namespace, "changed": changed,
            "action": action,
            "resource_version": (after.get("metadata") or {}).get("resourceVersion"),
            "before": redact(comparable(before)), "after": redact(comparable(after), compare_to=before),
        }

    def _predicted(self, obj, label):
        meta = obj["metadata"]
        return {"ref": label, "kind": obj["kind"], "name": meta["name"], "namespace": meta.get("namespace"),
                "changed": True, "action": "create", "resource_version": None, "before": None,
                "after": redact(obj)}

    def apply(self, entries):
        """Apply every entry in kind order, after a conflict pass over all of them.

        Without ``force`` a conflict anywhere raises :class:`Conflicts` before any write. With ``force`` the
        conflicts found are taken over and listed in ``self.taken``. A failure of another kind stops at that object
        (earlier objects stay applied).
        """
        ordered = order(entries)
        befores, found = [], []
        for entry in ordered:
            obj = entry["object"]
            try:
                before = self._get(obj)
            except ApiError as exc:
                if self.check_mode and exc.status == 404:
                    # a kind whose CRD is itself only being installed: predicted as a create
                    befores.append(_PREDICT)
                    continue
                raise ApplyFailed("%s: cannot read it before applying: %s" % (ref(obj), exc)) from exc
            befores.append(before)
            conflicts = self.conflicts(obj, before)
            if conflicts:
                found.append((ref(obj), conflicts))
        if found and not self.force:
            raise Conflicts(found)
        self.taken = [{"ref": label, "field": c["field"], "manager": c["manager"]}
                      for label, conflicts in found for c in conflicts]
        return [self._predicted(entry["object"], ref(entry["object"])) if before is _PREDICT
                else self.apply_object(entry["object"], before, known=True)
                for entry, before in zip(ordered, befores)]
