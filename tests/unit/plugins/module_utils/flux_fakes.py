# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake of the KubeClient methods the Flux helpers use (get/list/patch/watch), for unit tests only.

``controller`` is a function ``(obj) -> [obj, ...]``: the successive versions a controller would write after a
PATCH; the fake's watch yields them as MODIFIED events (each with a new resourceVersion).
"""

from __future__ import annotations

import copy


def merge(base, patch):
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class FakeFluxClient:
    def __init__(self, objects=(), controller=None):
        self.objects = {}
        self.rv = 100
        self.patches = []          # (kind, namespace, name, patch) in call order
        self.patch_queries = []    # the query parameters of each PATCH, in call order
        self.watches = []          # (kind, namespace, name, resource_version)
        self.controller = controller or (lambda obj: [])
        self.pending = {}
        for obj in objects:
            self.put(obj)

    def put(self, obj):
        obj = copy.deepcopy(obj)
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        self.objects[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, api_version, kind, name, namespace=None):
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return {"items": [copy.deepcopy(o) for (k, ns, dummy), o in sorted(self.objects.items())
                          if k == kind and (namespace is None or ns == namespace)]}

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", query=None, subresource=None):
        assert patch_type == "merge"
        key = (kind, namespace, name)
        self.patches.append((kind, namespace, name, copy.deepcopy(body)))
        self.patch_queries.append(dict(query or {}))
        obj = merge(self.objects[key], body)
        if "spec" in body:
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        written = self.put(obj)
        self.pending[key] = list(self.controller(copy.deepcopy(written)))
        return written

    def watch(self, api_version, kind, namespace=None, name=None, resource_version=None, timeout=60):
        key = (kind, namespace, name)
        self.watches.append((kind, namespace, name, resource_version))
        while self.pending.get(key):
            yield "MODIFIED", self.put(self.pending[key].pop(0))


def flux_obj(kind, name, namespace="flux-system", generation=1, ready=None, handled=None, observed=None,
             spec=None, status=None, reconciling=False, stalled=None, annotations=None):
    """A Flux object with the given status (``ready`` is "True"/"False"/None, with reason and message)."""
    conds = []
    if ready is not None:
        conds.append({"type": "Ready", "status": ready, "reason": "Succeeded" if ready == "True" else "InstallFailed",
                      "message": "all good" if ready == "True" else "chart values are wrong"})
    if reconciling:
        conds.append({"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry", "message": "retrying"})
    if stalled:
        conds.append({"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": stalled})
    st = {"conditions": conds, "observedGeneration": generation if observed is None else observed}
    if handled:
        st["lastHandledReconcileAt"] = handled
    st.update(status or {})
    return {"apiVersion": "x/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "generation": generation,
                         "annotations": dict(annotations or {}), "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": dict(spec or {}), "status": st}


def handles(ready="True", message=None, before=(), extra_fields=(), newer=None):
    """A controller that first writes the ``before`` objects' statuses, then handles the token with ``ready``.

    ``newer``: another client's request token written after ours; the controller handles only that newest one (as
    Flux does when two requests arrive before it gets to the object).
    """
    def controller(obj):
        token = newer or obj["metadata"].get("annotations", {}).get("reconcile.fluxcd.io/requestedAt")
        if not token or obj["spec"].get("suspend"):
            return []       # a suspended object is left alone, as Flux does
        out = []
        for status in before:
            out.append(merge(obj, {"status": status}))
        done = merge(obj, {"status": {"lastHandledReconcileAt": token,
                                      "observedGeneration": obj["metadata"].get("generation", 1),
                                      "conditions": [{"type": "Ready", "status": ready,
                                                      "reason": "Succeeded" if ready == "True" else "InstallFailed",
                                                      "message": message or "ok"}]}})
        for field in extra_fields:
            done["status"][field] = token
        out.append(done)
        return out
    return controller
