# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the flux_reconcile and flux_info modules do, on a ``KubeClient`` (or any object with the same methods)."""

from __future__ import annotations

import copy
import datetime
import time

from ansible_collections.supertodo.platform.plugins.module_utils.flux import conditions, kinds, sources, token as tokens
from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import (
    FluxError,
    NotFoundError,
    SuspendedError,
)
from ansible_collections.supertodo.platform.plugins.module_utils.flux.waiter import ref, wait_for

DEFAULT_TIMEOUT = 300
# the field manager the Flux CLI writes its reconcile / suspend / resume patches with
FIELD_MANAGER = "flux-client-side-apply"
PATCH_QUERY = {"fieldManager": FIELD_MANAGER}


def _view(obj):
    """The part of an object a reconcile request touches (for diff mode)."""
    meta = obj.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("reconcile.fluxcd.io/")}
    return {"metadata": {"annotations": annotations}, "spec": {"suspend": bool((obj.get("spec") or {}).get("suspend"))}}


def _merge(obj, patch):
    out = copy.deepcopy(obj)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def summary(obj):
    """Conditions and revision of an object, in the shape both modules return."""
    status = obj.get("status") or {}
    return {
        "kind": obj.get("kind"),
        "namespace": (obj.get("metadata") or {}).get("namespace"),
        "name": (obj.get("metadata") or {}).get("name"),
        "revision": kinds.revision(obj),
        "conditions": status.get("conditions") or [],
        "ready": conditions.is_true(obj, "Ready"),
        "suspended": conditions.is_suspended(obj),
        "last_handled_reconcile_at": status.get("lastHandledReconcileAt"),
        "observed_generation": status.get("observedGeneration"),
        "generation": (obj.get("metadata") or {}).get("generation"),
    }


class FluxService:
    def __init__(self, client, check_mode=False, clock=time.monotonic):
        self.client = client
        self.check_mode = check_mode
        self.clock = clock
        self._source_results = {}

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, kind, namespace, name):
        kind = kinds.canonical_kind(kind)
        obj = self.client.get(kinds.api_version(kind), kind, name, namespace)
        if obj is None:
            raise NotFoundError("%s not found" % ref(kind, namespace, name))
        obj.setdefault("kind", kind)
        return obj

    # -- reconcile --------------------------------------------------------------------------------------
    def reconcile(self, kind, namespace, name, with_source=False, force=False, reset=False,
                  timeout=DEFAULT_TIMEOUT, wait=True, obj=None):
        """Request a reconcile of one object (its source first when ``with_source``) and wait for it."""
        kind = kinds.canonical_kind(kind)
        obj = obj or self.get(kind, namespace, name)
        if conditions.is_suspended(obj):
            raise SuspendedError("%s is suspended (spec.suspend: true): Flux ignores reconcile requests for it; "
                                 "resume it first (state: resumed)" % ref(kind, namespace, name),
                                 {"object": summary(obj)})
        source_result = None
        if with_source:
            source_ref = sources.source_of(obj)
            if source_ref and source_ref[0] and source_ref[2]:
                source_result = self._reconcile_source(source_ref, timeout, wait)
        result = self._request(obj, kind, namespace, name, force, reset, timeout, wait, patch_extra=None)
        result["source"] = source_result
        return result

    def _reconcile_source(self, source_ref, timeout, wait):
        skind, sns, sname = source_ref
        key = (skind, sns, sname)
        if key not in self._source_results:     # one request per source and task
            self._source_results[key] = self.reconcile(skind, sns, sname, with_source=False, timeout=timeout,
                                                       wait=wait)
        return self._source_results[key]

    def _request(self, obj, kind, namespace, name, force, reset, timeout, wait, patch_extra):
        token = tokens.new_token()
        patch = tokens.request_patch(token, kind, force, reset)
        if patch_extra:
            patch = _merge(patch, patch_extra)
        before = _view(obj)
        result = {"kind": kind, "namespace": namespace, "name": name, "token": token,
                  "requested": patch["metadata"]["annotations"], "changed": True,
                  "diff": {"before": before, "after": _view(_merge(obj, patch))},
                  "duration": 0.0, "waited": False}
        if self.check_mode:
            result.update({k: v for k, v in summary(obj).items() if k not in result})
            return result
        start = self.clock()
        patched = self.client.patch(kinds.api_version(kind), kind, name, namespace, patch, query=dict(PATCH_QUERY))
        patched.setdefault("kind", kind)
        final = patched
        if wait:
            extra = [a for a in (tokens.FORCE_AT, tokens.RESET_AT) if a in patch["metadata"]["annotations"]]
            try:
                final, dummy = wait_for(self.client, kinds.api_version(kind), kind, namespace, name, token,
                                        timeout, extra, clock=self.clock, initial=patched)
            except FluxError as exc:
                failed = exc.result.get("object")
                exc.result = dict(result, **(summary(failed) if failed else {}))
                exc.result["duration"] = round(self.clock() - start, 3)
                exc.result["token"] = token
                raise
            result["waited"] = True
        final.setdefault("kind", kind)
        result.update(summary(final))
        result["duration"] = round(self.clock() - start, 3)
        return result

    def reconcile_many(self, refs, with_source=False, force=False, reset=False, timeout=DEFAULT_TIMEOUT, wait=True):
        """Reconcile a list of ``{kind, namespace, name}`` in dependency order (``spec.dependsOn``), one at a time.

        Stops at the first failure: the error's ``result`` holds ``results`` (the objects done so far).
        """
        objects = [self.get(r["kind"], r["namespace"], r["name"]) for r in refs]
        try:
            ordered = sources.dependency_order(objects)
        except ValueError as exc:
            raise FluxError(str(exc)) from exc
        results = []
        for obj in ordered:
            meta = obj["metadata"]
            try:
                results.append(self.reconcile(obj["kind"], meta.get("namespace"), meta["name"], with_source, force,
                                              reset, timeout, wait, obj=obj))
            except FluxError as exc:
                exc.result = {"results": results, "failed": exc.result}
                raise
        return results

    # -- suspend / resume ---------------------------------------------------------------------------------
    def set_suspended(self, kind, namespace, name, suspend, timeout=DEFAULT_TIMEOUT, wait=True, force=False,
                      reset=False):
        """``suspend=True`` sets ``spec.suspend``; ``False`` clears it and requests a reconcile (as ``flux resume``)."""
        kind = kinds.canonical_kind(kind)
        obj = self.get(kind, namespace, name)
        was = conditions.is_suspended(obj)
        if suspend:
            patch = {"spec": {"suspend": True}}
            result = {"kind": kind, "namespace": namespace, "name": name, "token": None, "changed": not was,
                      "diff": {"before": _view(obj), "after": _view(_merge(obj, patch))}, "duration": 0.0,
                      "waited": False, "source": None}
            if was or self.check_mode:
                result.update({k: v for k, v in summary(obj).items() if k not in result})
                return result
            patched = self.client.patch(kinds.api_version(kind), kind, name, namespace, patch, query=dict(PATCH_QUERY))
            patched.setdefault("kind", kind)
            result.update({k: v for k, v in summary(patched).items() if k not in result})
            return result
        result = self._request(obj, kind, namespace, name, force, reset, timeout, wait,
                               patch_extra={"spec": {"suspend": False}})
        result["source"] = None
        return result

    # -- listing (flux get) -----------------------------------------------------------------------------------
    def info(self, kind=None, namespace=None, name=None, now=None):
        """List Flux objects: one kind or all, one namespace or all (``namespace=None``), optionally one name."""
        wanted = [kinds.canonical_kind(kind)] if kind else list(kinds.KINDS)
        now = now or datetime.datetime.now(datetime.timezone.utc)
        items = []
        for k in wanted:
            if name:
                found = self.client.get(kinds.api_version(k), k, name, namespace)
                objs = [found] if found else []
            else:
                objs = (self.client.list(kinds.api_version(k), k, namespace) or {}).get("items") or []
            for obj in objs:
                obj.setdefault("kind", k)
                items.append(info_row(obj, now))
        return items


def info_row(obj, now):
    """One row of ``flux get``: name, ready, suspended, revision, last handled token, message, age."""
    row = summary(obj)
    ready = conditions.condition(obj, "Ready")
    row["ready_status"] = ready.get("status") if ready else "Unknown"
    row["reason"] = ready.get("reason") if ready else None
    row["message"] = ready.get("message") if ready else None
    row["age"] = age(obj, now)
    return row


def age(obj, now):
    """Seconds since ``metadata.creationTimestamp`` (``None`` when absent)."""
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return None
    try:
        when = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return int((now - when).total_seconds())
