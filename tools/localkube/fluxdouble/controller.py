"""The reconcile loop of the Flux controller double (see the package docstring for the contract it follows)."""

from __future__ import annotations

import datetime
import hashlib
import heapq
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from localkube.fluxdouble import charts, kustomize, sources
from localkube.fluxdouble.kube import Kube
from localkube.rest import ApiError

LOG = logging.getLogger("flux-double")

SOURCE = "source.toolkit.fluxcd.io/v1"
FLUX_KINDS = {
    "GitRepository": SOURCE, "HelmRepository": SOURCE, "OCIRepository": SOURCE, "Bucket": SOURCE,
    "HelmChart": SOURCE, "HelmRelease": "helm.toolkit.fluxcd.io/v2",
    "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
}
WORKLOADS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1"}
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"
FAIL = "test.supertodo.io/fail"
STALL = "test.supertodo.io/stall"
HANG = "test.supertodo.io/hang"
LABEL_NAME = "helm.toolkit.fluxcd.io/name"
LABEL_NS = "helm.toolkit.fluxcd.io/namespace"
FIELD_MANAGER = "helm-controller"
KS_MANAGER = "kustomize-controller"
KS_LABEL_NAME = "kustomize.toolkit.fluxcd.io/name"
KS_LABEL_NS = "kustomize.toolkit.fluxcd.io/namespace"
KS_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
KS_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
KS_SSA = "kustomize.toolkit.fluxcd.io/ssa"
# Kinds polled on spec.interval (source-controller fetches, kustomize-controller re-applies); HelmReleases are
# reconciled on change and on request only.
POLLED = ("GitRepository", "Kustomization")
RETRY_AFTER = 5.0        # requeue of a dependency or source not ready (Flux: --requeue-dependency=30s)
KUBE_VERSION = "v1.20.2"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(text, default):
    """Seconds of a Go duration such as ``5m``, ``1m30s``, ``90s``."""
    if not text:
        return default
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(ms|s|m|h)", text):
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or default


def cond(ctype, status, reason, message, generation):
    return {"type": ctype, "status": status, "reason": reason, "message": message[:32000],
            "lastTransitionTime": now(), "observedGeneration": generation}


def get_cond(obj, ctype):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def ready_now(obj):
    c = get_cond(obj, "Ready")
    return bool(c) and c.get("status") == "True" and \
        (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")


class Retry(Exception):
    """Not done yet: wait for a watch event (or ``after`` seconds) and reconcile again. ``status`` is the Ready
    status to report meanwhile (``Unknown`` while progressing, ``False`` e.g. for DependencyNotReady)."""

    def __init__(self, reason, message, after=None, status="Unknown", extra=None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.after = after
        self.status = status
        self.extra = extra or {}


class Failed(Exception):
    def __init__(self, reason, message, stalled=False, extra=None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stalled = stalled
        self.extra = extra or {}


class Controller:
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

    # -- sources ----------------------------------------------------------------------------------------
    def _artifact(self, obj, revision, digest_of):
        meta = obj["metadata"]
        path = "%s/%s/%s/%s.tar.gz" % (obj["kind"].lower(), meta.get("namespace"), meta["name"],
                                       charts.digest(digest_of)[7:19])
        old = (obj.get("status") or {}).get("artifact") or {}
        return {"path": path, "url": "http://source-controller.flux-system.svc.cluster.local./" + path,
                "revision": revision, "digest": charts.digest(digest_of),
                "lastUpdateTime": old.get("lastUpdateTime") if old.get("revision") == revision else now()}

    def _reconcile_gitrepository(self, obj):
        """Fetch spec.url at spec.ref (source-controller): the artifact is a tar.gz of that commit's files."""
        spec = obj.get("spec") or {}
        meta = obj["metadata"]
        old = (obj.get("status") or {}).get("artifact") or {}
        try:
            revision, sha = self.artifacts.fetch(meta["namespace"], meta["name"], spec.get("url", ""),
                                                 spec.get("ref"))
            path, digest, size = self.artifacts.store(meta["namespace"], meta["name"], sha)
        except (sources.SourceError, OSError, subprocess.SubprocessError) as exc:
            raise Failed("GitOperationFailed", str(exc)) from exc
        artifact = {"path": path, "url": "http://source-controller.flux-system.svc.cluster.local./" + path,
                    "revision": revision, "digest": digest, "size": size,
                    "lastUpdateTime": old.get("lastUpdateTime") if old.get("digest") == digest else now()}
        return ({"artifact": artifact}, "Succeeded", "stored artifact for revision '%s'" % revision)

    def _reconcile_helmrepository(self, obj):
        url = (obj.get("spec") or {}).get("url", "")
        revision = charts.digest({"index": url})
        return ({"artifact": self._artifact(obj, revision, url)}, "Succeeded",
                "stored artifact: revision '%s'" % revision)

    def _reconcile_ocirepository(self, obj):
        spec = obj.get("spec") or {}
        tag = (spec.get("ref") or {}).get("tag") or "latest"
        revision = "%s@%s" % (tag, charts.digest({"oci": spec.get("url"), "tag": tag}))
        return ({"artifact": self._artifact(obj, revision, revision)}, "Succeeded",
                "stored artifact for digest '%s'" % revision)

    def _reconcile_bucket(self, obj):
        spec = obj.get("spec") or {}
        revision = charts.digest({"bucket": spec.get("bucketName"), "endpoint": spec.get("endpoint")})
        return ({"artifact": self._artifact(obj, revision, revision)}, "Succeeded",
                "stored artifact: revision '%s'" % revision)

    def _source_ready(self, ref_kind, namespace, name):
        src = self.client.get(FLUX_KINDS[ref_kind], ref_kind, name, namespace)
        if src is None:
            raise Retry("SourceUnavailable", "%s '%s/%s' not found" % (ref_kind, namespace, name), after=2.0)
        src["kind"] = ref_kind
        if not ready_now(src) or not (src.get("status") or {}).get("artifact"):
            raise Retry("SourceUnavailable", "%s '%s/%s' is not ready" % (ref_kind, namespace, name))
        return src

    def _reconcile_helmchart(self, obj):
        spec = obj.get("spec") or {}
        namespace = obj["metadata"].get("namespace")
        ref = spec.get("sourceRef") or {}
        src = self._source_ready(ref.get("kind"), namespace, ref.get("name"))
        src_rev = src["status"]["artifact"]["revision"]
        if ref.get("kind") == "HelmRepository":
            base = self.schema_dir / "chart-values" / spec.get("chart", "")
            if not (base / "Chart.yaml").is_file():
                raise Failed("ChartPullError", "chart '%s' not found in the index of HelmRepository '%s/%s'"
                             % (spec.get("chart"), namespace, ref.get("name")))
            meta = charts.chart_meta(base)
            version = str(meta.get("version"))
        else:
            return self._package_chart(obj, src)
        artifact = self._artifact(obj, version, {"chart": meta.get("name"), "version": version, "src": src_rev})
        return ({"artifact": artifact, "observedChartName": meta.get("name"),
                 "observedSourceArtifactRevision": src_rev},
                "ChartPullSucceeded", "packaged '%s' chart with version '%s'" % (meta.get("name"), version))

    def _package_chart(self, obj, src):
        """A HelmChart from a GitRepository: the chart folder of the source's artifact (the fetched commit),
        packaged with ``helm package`` into the HelmChart's own artifact (version ``<v>+<sha12>`` with
        ``reconcileStrategy: Revision``, as source-controller)."""
        spec = obj.get("spec") or {}
        meta_obj = obj["metadata"]
        src_rev = src["status"]["artifact"]["revision"]
        rel = os.path.normpath(spec.get("chart", "")).lstrip("/")
        with tempfile.TemporaryDirectory(prefix="fluxdouble-chart-") as tmp:
            try:
                root = self.artifacts.unpack(src["status"]["artifact"], tmp)
            except sources.SourceError as exc:
                raise Retry("SourceUnavailable", "%s '%s/%s': %s" % (src["kind"], meta_obj["namespace"],
                                                                     src["metadata"]["name"], exc), after=RETRY_AFTER)
            chart_dir = root / rel
            try:
                meta = charts.chart_meta(chart_dir)
            except charts.ChartError as exc:
                raise Failed("ChartPackageFailed", "chart path '%s' not found in %s: %s" % (
                    spec.get("chart"), src_rev, exc), extra={"observedSourceArtifactRevision": src_rev}) from exc
            version = str(meta.get("version"))
            if spec.get("reconcileStrategy") == "Revision":
                version = "%s+%s" % (version, src_rev.rsplit(":", 1)[-1][:12])
            dest = self.artifacts.artifact_file("helmchart/%s/%s" % (meta_obj["namespace"], meta_obj["name"]))
            dest.mkdir(parents=True, exist_ok=True)
            out = subprocess.run(["helm", "package", str(chart_dir), "--version", version, "--destination",
                                  str(dest)], capture_output=True, text=True, timeout=120, check=False)
            if out.returncode != 0:
                raise Failed("ChartPackageFailed", "packaging of chart '%s' from %s failed: %s" % (
                    spec.get("chart"), src_rev, out.stderr.strip()[-500:]),
                    extra={"observedSourceArtifactRevision": src_rev})
        name = "%s-%s.tgz" % (meta.get("name"), version)
        for old in dest.glob("*.tgz"):
            if old.name != name:
                old.unlink(missing_ok=True)
        data = (dest / name).read_bytes()
        path = "helmchart/%s/%s/%s" % (meta_obj["namespace"], meta_obj["name"], name)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        old_art = (obj.get("status") or {}).get("artifact") or {}
        artifact = {"path": path, "url": "http://source-controller.flux-system.svc.cluster.local./" + path,
                    "revision": version, "digest": digest, "size": len(data),
                    "lastUpdateTime": old_art.get("lastUpdateTime") if old_art.get("revision") == version else now()}
        return ({"artifact": artifact, "observedChartName": meta.get("name"),
                 "observedSourceArtifactRevision": src_rev},
                "ChartPullSucceeded", "packaged '%s' chart with version '%s'" % (meta.get("name"), version))

    # -- kustomize ---------------------------------------------------------------------------------------
    def _deps_ready(self, obj):
        kind = obj["kind"]
        namespace = obj["metadata"].get("namespace")
        for dep in (obj.get("spec") or {}).get("dependsOn") or []:
            dns = dep.get("namespace") or namespace
            other = self.client.get(FLUX_KINDS[kind], kind, dep["name"], dns)
            if other is None or not ready_now(other):
                raise Retry("DependencyNotReady", "dependency '%s/%s' is not ready" % (dns, dep["name"]), after=5.0)

    def _ks_source(self, ks):
        spec = ks.get("spec") or {}
        ref = spec.get("sourceRef") or {}
        namespace = ref.get("namespace") or ks["metadata"]["namespace"]
        what = "%s/%s/%s" % (ref.get("kind"), namespace, ref.get("name"))
        if ref.get("kind") not in ("GitRepository", "OCIRepository", "Bucket"):
            raise Failed("ArtifactFailed", "source '%s' kind '%s' not supported" % (ref.get("name"), ref.get("kind")))
        src = self.client.get(FLUX_KINDS[ref["kind"]], ref["kind"], ref.get("name"), namespace)
        if src is None:
            raise Retry("ArtifactFailed", "Source '%s' not found" % what, after=RETRY_AFTER, status="False")
        src["kind"] = ref["kind"]
        if not (src.get("status") or {}).get("artifact"):
            raise Retry("ArtifactFailed", "Source artifact not found, retrying in %ds" % RETRY_AFTER,
                        after=RETRY_AFTER, status="False")
        return src

    def _ks_dependencies(self, ks, src):
        """kustomize-controller checkDependencies: each dependency exists, observed its generation, is Ready, and
        (same source) has applied the source's current revision."""
        namespace = ks["metadata"]["namespace"]
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        for dep in (ks.get("spec") or {}).get("dependsOn") or []:
            dns = dep.get("namespace") or namespace
            name = "%s/%s" % (dns, dep["name"])
            other = self.client.get(FLUX_KINDS["Kustomization"], "Kustomization", dep["name"], dns)
            if other is None:
                raise Retry("DependencyNotReady", "dependency '%s' not found" % name, after=RETRY_AFTER,
                            status="False")
            if not ready_now(other):
                raise Retry("DependencyNotReady", "dependency '%s' is not ready" % name, after=RETRY_AFTER,
                            status="False")
            oref = (other.get("spec") or {}).get("sourceRef") or {}
            if (oref.get("kind"), oref.get("name"), oref.get("namespace") or dns) == \
                    (ref.get("kind"), ref.get("name"), ref.get("namespace") or namespace) and \
                    (other.get("status") or {}).get("lastAppliedRevision") != src["status"]["artifact"]["revision"]:
                raise Retry("DependencyNotReady", "dependency '%s' revision is not up to date" % name,
                            after=RETRY_AFTER, status="False")

    def _reconcile_kustomization(self, ks):
        key = ("Kustomization", ks["metadata"]["namespace"], ks["metadata"]["name"])
        meta = ks["metadata"]
        spec = ks.get("spec") or {}
        status = ks.get("status") or {}
        src = self._ks_source(ks)
        revision = src["status"]["artifact"]["revision"]
        self._ks_dependencies(ks, src)
        timeout_text = spec.get("timeout") or spec.get("interval") or "5m"
        request = ((meta.get("annotations") or {}).get(REQUESTED_AT), meta.get("generation"), revision)
        prog = self.progress.get(key)
        if prog is None or prog["request"] != request:
            attempted = {"lastAttemptedRevision": revision}
            with tempfile.TemporaryDirectory(prefix="fluxdouble-ks-") as tmp:
                try:
                    root = self.artifacts.unpack(src["status"]["artifact"], tmp)
                except sources.SourceError as exc:
                    raise Failed("ArtifactFailed", str(exc)) from exc
                rel = os.path.normpath((spec.get("path") or "./").strip()).lstrip("/")
                folder = (root / rel).resolve()
                if not str(folder).startswith(str(root.resolve())) or not folder.is_dir():
                    raise Failed("ArtifactFailed", "kustomization path not found: stat %s: no such file or "
                                 "directory" % os.path.join(tmp, rel), extra=attempted)
                try:
                    kustomize.generate(spec, folder)
                    objects = kustomize.build(folder)
                except (kustomize.BuildError, OSError, ValueError) as exc:
                    raise Failed("BuildFailed", str(exc).replace(tmp, ""), extra=attempted) from exc
            inventory = self._ks_apply(ks, objects, attempted)
            self._ks_prune(ks, status.get("inventory"), inventory, attempted)
            prog = {"request": request, "deadline": time.monotonic() + duration(timeout_text, 300.0),
                    "started": time.monotonic(), "inventory": inventory}
            self.progress[key] = prog
        extra = {"lastAttemptedRevision": revision, "inventory": prog["inventory"]}
        self._ks_health(ks, prog, revision, timeout_text, extra)
        self.progress.pop(key, None)
        extra["lastAppliedRevision"] = revision
        return extra, "ReconciliationSucceeded", "Applied revision: %s" % revision

    def _ks_apply(self, ks, objects, attempted):
        """Server-side apply in stages (field manager kustomize-controller, owner labels); refuse, before
        anything is written, an object that another Kustomization manages."""
        meta = ks["metadata"]
        me = (meta["namespace"], meta["name"])
        planned = []
        for obj in objects:
            api, kind = obj["apiVersion"], obj["kind"]
            md = obj.setdefault("metadata", {})
            try:
                dummy, namespaced = self.client.resource(api, kind)
            except ApiError as exc:
                raise Failed("ReconciliationFailed", "%s dry-run failed: %s" % (
                    kustomize.display(kind, md.get("namespace"), md["name"]), exc), extra=attempted) from exc
            if not namespaced:
                md.pop("namespace", None)
            elif not md.get("namespace"):
                raise Failed("ReconciliationFailed", "%s namespace not specified: the resource is namespaced and "
                             "neither the object nor spec.targetNamespace sets a namespace" % kustomize.display(
                                 kind, None, md["name"]), extra=attempted)
            annotations = md.get("annotations") or {}
            if annotations.get(KS_RECONCILE) == "disabled" or annotations.get(KS_SSA, "").lower() == "ignore":
                continue
            live = self.client.get(api, kind, md["name"], md.get("namespace"))
            labels = ((live or {}).get("metadata") or {}).get("labels") or {}
            owner = (labels.get(KS_LABEL_NS), labels.get(KS_LABEL_NAME))
            if live is not None and owner[1] and owner != me:
                other = self.client.get(FLUX_KINDS["Kustomization"], "Kustomization", owner[1], owner[0])
                ids = {e.get("id") for e in (((other or {}).get("status") or {}).get("inventory") or {}).get(
                    "entries") or []}
                if other is not None and kustomize.entry_id(obj) in ids:
                    raise Failed("ReconciliationFailed", "%s is already managed by Kustomization %s/%s; "
                                 "Kustomization %s/%s also applies it (two owners of one object)" % (
                                     kustomize.display(kind, md.get("namespace"), md["name"]), owner[0], owner[1],
                                     me[0], me[1]), extra=attempted)
            if live is not None and annotations.get(KS_SSA, "").lower() == "ifnotpresent":
                planned.append((obj, False))
                continue
            planned.append((obj, True))
        entries = []
        for stage in kustomize.stages([o for o, dummy in planned]):
            for obj in stage:
                md = obj["metadata"]
                write = next(w for o, w in planned if o is obj)
                md.setdefault("labels", {}).update({KS_LABEL_NAME: me[1], KS_LABEL_NS: me[0]})
                if write:
                    try:
                        self.client.patch(obj["apiVersion"], obj["kind"], md["name"], md.get("namespace"), obj,
                                          patch_type="apply", query={"fieldManager": KS_MANAGER, "force": "true"})
                    except ApiError as exc:
                        raise Failed("ReconciliationFailed", "%s apply failed: %s" % (
                            kustomize.display(obj["kind"], md.get("namespace"), md["name"]), exc),
                            extra=dict(attempted)) from exc
                entries.append({"id": kustomize.entry_id(obj), "v": obj["apiVersion"].split("/")[-1]})
        return {"entries": entries}

    def _ks_prune(self, ks, old_inventory, inventory, attempted):
        """Delete what left the build (spec.prune), only objects whose owner labels still name this
        Kustomization and without ``kustomize.toolkit.fluxcd.io/prune: disabled``."""
        if not (ks.get("spec") or {}).get("prune"):
            return
        meta = ks["metadata"]
        keep = {e["id"] for e in inventory["entries"]}
        for entry in (old_inventory or {}).get("entries") or []:
            if entry["id"] in keep:
                continue
            ref = kustomize.parse_id(entry)
            try:
                live = self.client.get(ref["apiVersion"], ref["kind"], ref["name"], ref["namespace"])
                if live is None:
                    continue
                md = live.get("metadata") or {}
                labels = md.get("labels") or {}
                if (labels.get(KS_LABEL_NS), labels.get(KS_LABEL_NAME)) != (meta["namespace"], meta["name"]) or \
                        (md.get("annotations") or {}).get(KS_PRUNE) == "disabled":
                    continue
                self.client.delete(ref["apiVersion"], ref["kind"], ref["name"], ref["namespace"])
                LOG.info("Kustomization %s/%s: %s deleted", meta["namespace"], meta["name"],
                         kustomize.display(ref["kind"], ref["namespace"], ref["name"]))
            except ApiError as exc:
                raise Failed("PruneFailed", "%s: %s" % (kustomize.display(ref["kind"], ref["namespace"],
                                                                          ref["name"]), exc),
                             extra=dict(attempted, inventory=inventory)) from exc

    def _object_status(self, ref):
        """kstatus of one object: Current, InProgress, Failed or NotFound."""
        obj = self.client.get(ref["apiVersion"], ref["kind"], ref["name"], ref["namespace"])
        if obj is None:
            return "NotFound"
        st = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        if ref["kind"] in WORKLOADS:
            if ref["kind"] in self._not_ready_kinds(obj):
                return "InProgress"
            return "Current"
        conds = {c.get("type"): c for c in st.get("conditions") or []}
        if "Ready" in conds or "Stalled" in conds:
            if (conds.get("Stalled") or {}).get("status") == "True":
                return "Failed"
            if generation is not None and st.get("observedGeneration") != generation:
                return "InProgress"
            ready = conds.get("Ready") or {}
            if ready.get("status") == "True":
                return "Current"
            if ready.get("status") == "False" and (conds.get("Reconciling") or {}).get("status") != "True" and \
                    ready.get("reason") not in ("Progressing", "DependencyNotReady", "ArtifactFailed"):
                return "Failed"
            return "InProgress"
        return "Current"

    def _not_ready_kinds(self, obj):
        st = obj.get("status") or {}
        want = (obj.get("spec") or {}).get("replicas", 1)
        current = st.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
        if obj["kind"] == "Deployment":
            ok = current and st.get("updatedReplicas", 0) >= want and st.get("availableReplicas", 0) >= want
        else:
            ok = current and st.get("readyReplicas", 0) >= want and st.get("updatedReplicas", want) >= want
        return () if ok else (obj["kind"],)

    def _ks_health(self, ks, prog, revision, timeout_text, extra):
        spec = ks.get("spec") or {}
        meta = ks["metadata"]
        if spec.get("wait"):
            refs = [kustomize.parse_id(e) for e in prog["inventory"]["entries"]]
        else:
            refs = [{"apiVersion": h.get("apiVersion") or FLUX_KINDS.get(h.get("kind"), "v1"), "kind": h.get("kind"),
                     "name": h.get("name"), "namespace": h.get("namespace") or meta["namespace"]}
                    for h in spec.get("healthChecks") or []]
        refs = [r for r in refs if not (r["kind"] == "Kustomization" and r["name"] == meta["name"]
                                        and r["namespace"] == meta["namespace"])]
        if not refs:
            return
        states = [(r, self._object_status(r)) for r in refs]
        elapsed = "%.1fs" % (time.monotonic() - prog["started"])
        failed = ["%s status: 'Failed'" % kustomize.display(r["kind"], r["namespace"], r["name"])
                  for r, st in states if st == "Failed"]
        waiting = ["%s status: '%s'" % (kustomize.display(r["kind"], r["namespace"], r["name"]), st)
                   for r, st in states if st in ("InProgress", "NotFound")]
        if failed:
            self.progress.pop(("Kustomization", meta["namespace"], meta["name"]), None)
            raise Failed("HealthCheckFailed", "health check failed after %s: failed early due to stalled "
                         "resources: [%s]" % (elapsed, ", ".join(failed)), extra=extra)
        if waiting:
            if time.monotonic() > prog["deadline"]:
                self.progress.pop(("Kustomization", meta["namespace"], meta["name"]), None)
                raise Failed("HealthCheckFailed", "health check failed after %s: timeout waiting for: [%s]" % (
                    elapsed, ", ".join(waiting)), extra=extra)
            raise Retry("Progressing", "Running health checks for revision %s with a timeout of %s" % (
                revision, timeout_text), after=2.0, extra=extra)

    # -- helm -------------------------------------------------------------------------------------------------
    def _chart_for(self, hr):
        """The HelmChart the release installs from: chartRef, or the <ns>-<name> chart this double manages."""
        spec = hr.get("spec") or {}
        meta = hr["metadata"]
        if spec.get("chartRef"):
            ref = spec["chartRef"]
            chart = self._source_ready(ref["kind"], ref.get("namespace") or meta["namespace"], ref["name"])
            return chart, None
        tmpl = (spec.get("chart") or {}).get("spec") or {}
        sref = tmpl.get("sourceRef") or {}
        chart_ns = sref.get("namespace") or meta["namespace"]
        chart_name = "%s-%s" % (meta["namespace"], meta["name"])
        want = {"chart": tmpl.get("chart"), "sourceRef": {"kind": sref.get("kind"), "name": sref.get("name")},
                "interval": tmpl.get("interval") or spec.get("interval") or "10m",
                "reconcileStrategy": tmpl.get("reconcileStrategy") or "ChartVersion"}
        if tmpl.get("version"):
            want["version"] = tmpl["version"]
        if tmpl.get("valuesFiles"):
            want["valuesFiles"] = tmpl["valuesFiles"]
        existing = self.client.get(SOURCE, "HelmChart", chart_name, chart_ns)
        body = {"apiVersion": SOURCE, "kind": "HelmChart",
                "metadata": {"name": chart_name, "namespace": chart_ns,
                             "labels": {LABEL_NAME: meta["name"], LABEL_NS: meta["namespace"]}},
                "spec": want}
        if existing is None or any((existing.get("spec") or {}).get(k) != v for k, v in want.items()):
            self.client.patch(SOURCE, "HelmChart", chart_name, chart_ns, body, patch_type="apply",
                              query={"fieldManager": FIELD_MANAGER, "force": "true"})
        if (hr.get("status") or {}).get("helmChart") != "%s/%s" % (chart_ns, chart_name):
            self.client.patch(FLUX_KINDS["HelmRelease"], "HelmRelease", meta["name"], meta["namespace"],
                              {"status": {"helmChart": "%s/%s" % (chart_ns, chart_name)}}, subresource="status")
        chart = self._source_ready("HelmChart", chart_ns, chart_name)
        return chart, sref

    def api_versions(self):
        stamp, cached = self._api_versions
        if time.monotonic() - stamp < 30 and cached:
            return cached
        found = ["v1"]
        core = self.client.request("GET", "/api/v1")
        found += ["v1/%s" % r["kind"] for r in core.get("resources", []) if "/" not in r["name"]]
        for group in self.client.request("GET", "/apis").get("groups", []):
            for version in group.get("versions", []):
                gv = version["groupVersion"]
                found.append(gv)
                try:
                    res = self.client.request("GET", "/apis/%s" % gv)
                except ApiError:
                    continue
                found += ["%s/%s" % (gv, r["kind"]) for r in res.get("resources", []) if "/" not in r["name"]]
        self._api_versions = (time.monotonic(), sorted(set(found)))
        return self._api_versions[1]

    def _reconcile_helmrelease(self, hr):
        key = ("HelmRelease", hr["metadata"]["namespace"], hr["metadata"]["name"])
        self._deps_ready(hr)
        chart, sref = self._chart_for(hr)
        spec = hr.get("spec") or {}
        meta = hr["metadata"]
        status = hr.get("status") or {}
        annotations = meta.get("annotations") or {}
        values = spec.get("values") or {}
        chart_name = (chart.get("status") or {}).get("observedChartName") or (chart.get("spec") or {}).get("chart")
        version = chart["status"]["artifact"]["revision"]
        target_ns = spec.get("targetNamespace") or meta["namespace"]
        release = spec.get("releaseName") or (
            "%s-%s" % (spec["targetNamespace"], meta["name"]) if spec.get("targetNamespace") else meta["name"])
        config_digest = charts.digest(values)
        history = list(status.get("history") or [])
        action = "upgrade" if history else "install"
        prog = self.progress.get(key)
        request = (annotations.get(REQUESTED_AT), annotations.get(FORCE_AT), meta.get("generation"), version,
                   config_digest)
        if prog is None or prog["request"] != request:
            from_git = (sref or {}).get("kind") == "GitRepository" or (
                (chart.get("spec") or {}).get("sourceRef") or {}).get("kind") == "GitRepository"
            try:
                if from_git:
                    chart_file = self.artifacts.artifact_file(chart["status"]["artifact"]["path"])
                    if not chart_file.is_file():
                        raise Retry("SourceUnavailable", "HelmChart '%s/%s' artifact %s not found" % (
                            chart["metadata"]["namespace"], chart["metadata"]["name"],
                            chart["status"]["artifact"]["path"]), after=RETRY_AFTER)
                    objects = charts.helm_template(chart_file, release, target_ns, values, self.api_versions(),
                                                   KUBE_VERSION)
                    inventory = self._apply(objects, target_ns, meta, status.get("inventory"))
                else:
                    charts.validate_values(self.schema_dir, chart_name, values)
                    inventory = status.get("inventory")
            except charts.ChartError as exc:
                raise Failed("InstallFailed" if action == "install" else "UpgradeFailed",
                             "Helm %s failed for release %s/%s with chart %s@%s: %s" % (
                                 action, target_ns, release, chart_name, version, exc),
                             extra={"lastAttemptedRevision": version,
                                    "lastAttemptedConfigDigest": config_digest}) from exc
            prog = {"request": request, "deadline": time.monotonic() + duration(spec.get("timeout"), 300.0),
                    "inventory": inventory}
            self.progress[key] = prog
        waiting = self._not_ready_workloads(prog["inventory"])
        if waiting:
            if time.monotonic() > prog["deadline"]:
                raise Failed("InstallFailed" if action == "install" else "UpgradeFailed",
                             "Helm %s failed for release %s/%s with chart %s@%s: timed out waiting for the "
                             "condition: %s" % (action, target_ns, release, chart_name, version,
                                                ", ".join(waiting[:5])),
                             extra={"lastAttemptedRevision": version, "lastAttemptedConfigDigest": config_digest})
            raise Retry("Progressing", "Running '%s' action with timeout of %s: waiting for %s" % (
                action, spec.get("timeout") or "5m0s", ", ".join(waiting[:5])),
                after=max(0.5, prog["deadline"] - time.monotonic()))
        self.progress.pop(key, None)
        stamp = now()
        entry = {"name": release, "namespace": target_ns, "chartName": chart_name, "chartVersion": version,
                 "configDigest": config_digest, "digest": charts.digest([release, version,
                                                                                   config_digest]),
                 "firstDeployed": (history[0]["firstDeployed"] if history else stamp), "lastDeployed": stamp,
                 "status": "deployed", "version": int(status.get("lastReleaseRevision") or 0) + 1,
                 "action": action}
        if history and history[0].get("digest") == entry["digest"] and not (
                annotations.get(FORCE_AT) and annotations.get(FORCE_AT) != status.get("lastHandledForceAt")):
            # Nothing changed: no new release, and (as helm-controller does for an in-sync release) Ready keeps
            # the reason and message of the action that made the current release.
            entry = history[0]
            action = entry.get("action") or action
        else:
            history = [entry] + history[:4]
        extra = {"history": history, "lastAttemptedRevision": version, "lastAttemptedConfigDigest": config_digest,
                 "lastAttemptedGeneration": meta.get("generation"), "lastAttemptedReleaseAction": action,
                 "lastReleaseRevision": entry["version"], "storageNamespace": target_ns, "failures": 0,
                 "inventory": prog["inventory"] or {"entries": []}}
        if annotations.get(RESET_AT):
            extra["installFailures"] = 0
            extra["upgradeFailures"] = 0
        return extra, "%sSucceeded" % action.capitalize(), "Helm %s succeeded for release %s/%s.v%s with chart %s@%s" % (
            action, target_ns, release, entry["version"], chart_name, version)

    def _apply(self, objects, namespace, hr_meta, old_inventory):
        entries = []
        for obj in objects:
            api, kind = obj["apiVersion"], obj["kind"]
            dummy, namespaced = self.client.resource(api, kind)
            md = obj.setdefault("metadata", {})
            if namespaced:
                md.setdefault("namespace", namespace)
            else:
                md.pop("namespace", None)
            md.setdefault("labels", {}).update({LABEL_NAME: hr_meta["name"], LABEL_NS: hr_meta["namespace"]})
            try:
                self.client.patch(api, kind, md["name"], md.get("namespace"), obj, patch_type="apply",
                                  query={"fieldManager": FIELD_MANAGER, "force": "true"})
            except ApiError as exc:
                raise charts.ChartError("%s %s/%s: %s" % (kind, md.get("namespace", ""), md["name"], exc)) from exc
            group = api.split("/")[0] if "/" in api else ""
            entries.append({"id": "%s_%s_%s_%s" % (md.get("namespace", ""), md["name"], group, kind),
                            "v": api.split("/")[-1]})
        keep = {e["id"] for e in entries}
        for old in (old_inventory or {}).get("entries") or []:
            if old["id"] not in keep:
                self._delete(old)
        return {"entries": entries}

    def _delete(self, entry):
        ns, name, group, kind = entry["id"].split("_", 3)
        api = "%s/%s" % (group, entry["v"]) if group else entry["v"]
        try:
            self.client.request("DELETE", self.client.path(api, kind, ns or None, name))
        except ApiError as exc:
            if exc.status != 404:
                raise

    def _not_ready_workloads(self, inventory):
        waiting = []
        for entry in (inventory or {}).get("entries") or []:
            ns, name, group, kind = entry["id"].split("_", 3)
            if kind not in WORKLOADS or group != "apps":
                continue
            obj = self.client.get("apps/v1", kind, name, ns)
            if obj is None:
                waiting.append("%s %s/%s (missing)" % (kind, ns, name))
                continue
            st = obj.get("status") or {}
            want = (obj.get("spec") or {}).get("replicas", 1)
            current = st.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
            if kind == "Deployment":
                ok = current and st.get("updatedReplicas", 0) >= want and st.get("availableReplicas", 0) >= want
            else:
                ok = current and st.get("readyReplicas", 0) >= want and st.get("updatedReplicas", want) >= want
            if not ok:
                waiting.append("%s %s/%s" % (kind, ns, name))
        return waiting
