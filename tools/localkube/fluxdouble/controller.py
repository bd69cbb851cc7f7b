"""The reconcile loop of the Flux controller double (see the package docstring for the contract it follows)."""

from __future__ import annotations

import heapq
import json
import threading
import time
from pathlib import Path

from localkube.fluxdouble import sources
from localkube.fluxdouble.common import (
    FAIL,
    FLUX_KINDS,
    FORCE_AT,
    HANG,
    LABEL_NAME,
    LABEL_NS,
    LOG,
    POLLED,
    REQUESTED_AT,
    RESET_AT,
    STALL,
    WORKLOADS,
    Failed,
    Retry,
    cond,
    duration,
    get_cond,
)
from localkube.fluxdouble.helmchart import HelmChartReconciler
from localkube.fluxdouble.helmrelease import HelmReleaseReconciler
from localkube.fluxdouble.kube import Kube
from localkube.fluxdouble.kustomization import KustomizationReconciler
from localkube.fluxdouble.repositories import RepositoryReconciler
from localkube.rest import ApiError


class Controller(RepositoryReconciler, HelmChartReconciler, KustomizationReconciler, HelmReleaseReconciler):
    """The work queue, the watches and the worker; each kind's ``_reconcile_<kind>`` comes from its reconciler."""

    def __init__(self, kubeconfig, state_dir: Path, schema_dir: Path):
        self._kubeconfig = str(kubeconfig)
        self.client = Kube(self._kubeconfig)
        self.state_dir = Path(state_dir)
        self.work_dir = self.state_dir / "fluxdouble"
        self.artifacts = sources.GitArtifacts(self.work_dir)
        self.schema_dir = Path(schema_dir)
        self.next_poll = {}        # key -> monotonic time of the next spec.interval run (POLLED kinds)
        self.cache = {}            # (kind, ns, name) -> last object seen by a watch
        self.cache_lock = threading.Lock()
        self.queue = []            # heap of (due, seq, key)
        self.queued = {}           # key -> due
        self.seq = 0
        self.cv = threading.Condition()
        self.progress = {}         # HelmRelease key -> {"token", "deadline", "action", "applied"}
        self.stop = threading.Event()
        self._api_versions = (0.0, [])

    # -- queue ------------------------------------------------------------------------------------------
    def enqueue(self, key, after=0.0):
        due = time.monotonic() + after
        with self.cv:
            if key in self.queued and self.queued[key] <= due:
                return
            self.queued[key] = due
            self.seq += 1
            heapq.heappush(self.queue, (due, self.seq, key))
            self.cv.notify()

    def _next(self):
        with self.cv:
            while not self.stop.is_set():
                while self.queue and self.queued.get(self.queue[0][2]) != self.queue[0][0]:
                    heapq.heappop(self.queue)          # superseded entry
                if self.queue:
                    due, dummy, key = self.queue[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self.queue)
                        del self.queued[key]
                        return key
                    self.cv.wait(wait)
                else:
                    self.cv.wait(1.0)
            return None

    # -- watches ----------------------------------------------------------------------------------------
    def start(self):
        for kind, api in list(FLUX_KINDS.items()) + list(WORKLOADS.items()):
            threading.Thread(target=self._watch_kind, args=(api, kind), name="watch-%s" % kind, daemon=True).start()
        worker = threading.Thread(target=self._work, name="worker", daemon=True)
        worker.start()
        return worker

    def _watch_kind(self, api, kind):
        client = Kube(self._kubeconfig)
        while not self.stop.is_set():
            try:
                listed = client.list(api, kind)
                for obj in listed.get("items") or []:
                    obj["kind"] = kind
                    self._seen(kind, obj)
                rv = listed["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for etype, obj in client.watch(api, kind, rv, timeout=240):
                        if etype == "ERROR":
                            raise ApiError(obj.get("code", 410), "watch %s" % kind, json.dumps(obj))
                        rv = obj["metadata"]["resourceVersion"]
                        if etype == "BOOKMARK":
                            continue
                        obj["kind"] = kind
                        self._seen(kind, obj, deleted=(etype == "DELETED"))
            except Exception as exc:  # noqa: BLE001 - a watch must survive anything and start again
                LOG.info("watch %s restarts: %s", kind, exc)
                self.stop.wait(0.5)

    def _seen(self, kind, obj, deleted=False):
        meta = obj["metadata"]
        key = (kind, meta.get("namespace"), meta["name"])
        with self.cache_lock:
            if deleted:
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
        if kind in WORKLOADS:
            labels = meta.get("labels") or {}
            if labels.get(LABEL_NAME) and labels.get(LABEL_NS):
                self.enqueue(("HelmRelease", labels[LABEL_NS], labels[LABEL_NAME]))
            return
        if not deleted:
            self.enqueue(key)
        for other in self._dependents(key, obj):
            self.enqueue(other)

    def _dependents(self, key, obj):
        """Objects whose reconcile depends on ``obj``: charts and releases of a source, dependsOn users."""
        kind, namespace, name = key
        out = []
        with self.cache_lock:
            items = list(self.cache.items())
        for okey, other in items:
            okind, ons, dummy = okey
            spec = other.get("spec") or {}
            if okind in ("HelmRelease", "Kustomization") and okind == kind:
                for dep in spec.get("dependsOn") or []:
                    if dep.get("name") == name and (dep.get("namespace") or ons) == namespace:
                        out.append(okey)
            if okind == "HelmChart" and kind in ("GitRepository", "HelmRepository", "Bucket"):
                ref = spec.get("sourceRef") or {}
                if ref.get("kind") == kind and ref.get("name") == name and ons == namespace:
                    out.append(okey)
            if okind == "Kustomization" and kind in ("GitRepository", "OCIRepository", "Bucket"):
                ref = spec.get("sourceRef") or {}
                if ref.get("kind") == kind and ref.get("name") == name and (ref.get("namespace") or ons) == namespace:
                    out.append(okey)
            if okind == "HelmRelease" and kind in ("HelmChart", "OCIRepository"):
                chart = (other.get("status") or {}).get("helmChart")
                ref = spec.get("chartRef") or {}
                if chart == "%s/%s" % (namespace, name) or (
                        ref.get("kind") == kind and ref.get("name") == name and (ref.get("namespace") or ons) == namespace):
                    out.append(okey)
        return out

    # -- worker -----------------------------------------------------------------------------------------
    def _work(self):
        while not self.stop.is_set():
            key = self._next()
            if key is None:
                return
            try:
                self.reconcile(key)
            except Exception as exc:  # noqa: BLE001 - keep the controller running; retry later
                LOG.exception("reconcile %s %s/%s: %s", key[0], key[1], key[2], exc)
                self.enqueue(key, after=2.0)

    def reconcile(self, key):
        kind, namespace, name = key
        obj = self.client.get(FLUX_KINDS[kind], kind, name, namespace)
        if obj is None:
            self.progress.pop(key, None)
            return
        obj["kind"] = kind
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        if spec.get("suspend"):
            return
        annotations = meta.get("annotations") or {}
        token = annotations.get(REQUESTED_AT)
        generation = meta.get("generation")
        pending = (status.get("observedGeneration") != generation or not get_cond(obj, "Ready")
                   or (token and token != status.get("lastHandledReconcileAt")))
        if kind == "HelmRelease":
            pending = pending or key in self.progress or any(
                annotations.get(a) and annotations.get(a) != status.get(f)
                for a, f in ((FORCE_AT, "lastHandledForceAt"), (RESET_AT, "lastHandledResetAt")))
            chart_rev = self._cached_revision("HelmChart", status.get("helmChart"))
            pending = pending or bool(chart_rev and status.get("history") and
                                      chart_rev != status.get("lastAttemptedRevision"))
        elif kind == "Kustomization":
            ref = spec.get("sourceRef") or {}
            src_rev = self._cached_revision(ref.get("kind"), "%s/%s" % (ref.get("namespace") or namespace,
                                                                        ref.get("name")))
            pending = pending or key in self.progress or bool(
                src_rev and src_rev != status.get("lastAttemptedRevision"))
        elif kind == "HelmChart":
            ref = spec.get("sourceRef") or {}
            src_rev = self._cached_revision(ref.get("kind"), "%s/%s" % (namespace, ref.get("name")))
            pending = pending or bool(src_rev and src_rev != status.get("observedSourceArtifactRevision"))
        if kind in POLLED and time.monotonic() >= self.next_poll.get(key, 0.0):
            pending = True          # first sight after a start, or spec.interval has passed
        if not pending:
            return
        if kind in POLLED:
            interval = duration(spec.get("interval"), 600.0)
            self.next_poll[key] = time.monotonic() + interval
            self.enqueue(key, after=interval)
        if annotations.get(HANG) == "true":
            return          # the request is never handled: the status stays what an earlier run left
        for hook, stalled in ((STALL, True), (FAIL, False)):
            if annotations.get(hook):
                reason = "InstallFailed" if kind == "HelmRelease" else "ReconciliationFailed"
                self._fail(obj, Failed("RetriesExceeded" if stalled else reason, annotations[hook], stalled))
                self.progress.pop(key, None)
                return
        handler = getattr(self, "_reconcile_%s" % kind.lower())
        try:
            extra, ready_reason, message = handler(obj)
        except Retry as retry:
            self._write(obj, retry.extra, cond("Ready", retry.status, retry.reason, retry.message, generation),
                        reconciling=retry.status == "Unknown", handled=False)
            if retry.after:
                self.enqueue(key, after=retry.after)
            return
        except Failed as failure:
            self.progress.pop(key, None)
            self._fail(obj, failure)
            return
        self._write(obj, extra, cond("Ready", "True", ready_reason, message, generation), reconciling=False,
                    handled=True)

    def _write(self, obj, extra, ready, reconciling, handled, stalled=None):
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        status = dict(extra)
        generation = meta.get("generation")
        conds = [ready]
        if reconciling:
            conds.append(cond("Reconciling", "True", "Progressing", ready["message"], generation))
        if stalled:
            conds.append(stalled)
        # keep lastTransitionTime when the status of a condition did not change
        for c in conds:
            old = get_cond(obj, c["type"])
            if old and old.get("status") == c["status"]:
                c["lastTransitionTime"] = old.get("lastTransitionTime", c["lastTransitionTime"])
        status["conditions"] = conds
        if handled:
            status["observedGeneration"] = generation
            if annotations.get(REQUESTED_AT):
                status["lastHandledReconcileAt"] = annotations[REQUESTED_AT]
            if obj["kind"] == "HelmRelease":
                if annotations.get(FORCE_AT):
                    status["lastHandledForceAt"] = annotations[FORCE_AT]
                if annotations.get(RESET_AT):
                    status["lastHandledResetAt"] = annotations[RESET_AT]
        old = obj.get("status") or {}
        if all(old.get(k) == v for k, v in status.items() if k != "conditions") and \
                [(c["type"], c["status"], c["reason"], c["message"]) for c in old.get("conditions") or []] == \
                [(c["type"], c["status"], c["reason"], c["message"]) for c in conds]:
            return
        self.client.patch(FLUX_KINDS[obj["kind"]], obj["kind"], meta["name"], meta.get("namespace"),
                          {"status": status}, subresource="status")
        LOG.info("%s %s/%s: Ready=%s %s: %s", obj["kind"], meta.get("namespace"), meta["name"], ready["status"],
                 ready["reason"], ready["message"][:200])

    def _fail(self, obj, failure):
        generation = obj["metadata"].get("generation")
        stalled = cond("Stalled", "True", failure.reason, failure.message, generation) if failure.stalled else None
        extra = dict(failure.extra)
        if obj["kind"] == "HelmRelease":
            status = obj.get("status") or {}
            extra.update({"failures": int(status.get("failures") or 0) + 1,
                          "lastAttemptedGeneration": generation})
        self._write(obj, extra, cond("Ready", "False", failure.reason, failure.message, generation),
                    reconciling=False, handled=True, stalled=stalled)

    def _cached_revision(self, kind, ref):
        """The artifact revision of a source ``<namespace>/<name>`` as the watch last saw it (None if unknown)."""
        if kind not in FLUX_KINDS or not ref or "/" not in ref:
            return None
        namespace, name = ref.split("/", 1)
        with self.cache_lock:
            obj = self.cache.get((kind, namespace, name))
        return (((obj or {}).get("status") or {}).get("artifact") or {}).get("revision")
