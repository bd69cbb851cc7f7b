"""The reconcile loop of the Flux controller double (see the package docstring for the contract it follows)."""

from __future__ import annotations

import datetime
import heapq
import logging
import re
import threading
import time
from pathlib import Path

from localkube.fluxdouble import charts

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError

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
    """Not done yet: wait for a watch event (or ``after`` seconds) and reconcile again."""

    def __init__(self, reason, message, after=None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.after = after


class Failed(Exception):
    def __init__(self, reason, message, stalled=False):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stalled = stalled


class Controller:
    def __init__(self, kubeconfig, state_dir: Path, repo_root: Path, schema_dir: Path):
        self._kubeconfig = str(kubeconfig)
        self.client = KubeClient({"kubeconfig": self._kubeconfig, "request_timeout": 30})
        self.state_dir = Path(state_dir)
        self.repo_root = Path(repo_root)
        self.schema_dir = Path(schema_dir)
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
        client = KubeClient({"kubeconfig": self._kubeconfig, "request_timeout": 30})
        while not self.stop.is_set():
            try:
                listed = client.list(api, kind)
                for obj in listed.get("items") or []:
                    obj["kind"] = kind
                    self._seen(kind, obj)
                rv = listed["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for etype, obj in client.watch(api, kind, resource_version=rv, timeout=240):
                        if etype == "ERROR":
                            raise ApiError("watch %s: %s" % (kind, obj.get("message")), obj.get("code", 410))
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
        if not pending:
            return
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
            self._write(obj, {}, cond("Ready", "Unknown", retry.reason, retry.message, generation),
                        reconciling=True, handled=False)
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
        extra = {}
        if obj["kind"] == "HelmRelease":
            status = obj.get("status") or {}
            extra = {"failures": int(status.get("failures") or 0) + 1,
                     "lastAttemptedGeneration": generation}
        self._write(obj, extra, cond("Ready", "False", failure.reason, failure.message, generation),
                    reconciling=False, handled=True, stalled=stalled)

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
        ref = (obj.get("spec") or {}).get("ref") or {}
        sha = charts.git_head(self.repo_root)
        branch = ref.get("branch") or ("" if ref.get("commit") or ref.get("tag") else "master")
        revision = "%s@sha1:%s" % (branch or ref.get("tag") or "HEAD", sha)
        return ({"artifact": self._artifact(obj, revision, revision)}, "Succeeded",
                "stored artifact for revision '%s'" % revision)

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
            chart_dir = self.repo_root / spec.get("chart", "").strip("./")
            try:
                meta = charts.chart_meta(chart_dir)
            except charts.ChartError as exc:
                raise Failed("ChartPackageFailed", "chart path '%s' in %s: %s" % (spec.get("chart"), src_rev, exc))
            version = str(meta.get("version"))
            if spec.get("reconcileStrategy") == "Revision":
                version = "%s+%s" % (version, src_rev.rsplit(":", 1)[-1][:12])
        artifact = self._artifact(obj, version, {"chart": meta.get("name"), "version": version, "src": src_rev})
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

    def _reconcile_kustomization(self, obj):
        self._deps_ready(obj)
        spec = obj.get("spec") or {}
        ref = spec.get("sourceRef") or {}
        src = self._source_ready(ref.get("kind"), ref.get("namespace") or obj["metadata"].get("namespace"),
                                 ref.get("name"))
        revision = src["status"]["artifact"]["revision"]
        path = (spec.get("path") or "./").strip()
        if ref.get("kind") == "GitRepository" and not (self.repo_root / path.lstrip("./")).exists():
            raise Failed("ArtifactFailed", "kustomization path not found: stat %s: no such file or directory" % path)
        return ({"lastAppliedRevision": revision, "lastAttemptedRevision": revision},
                "ReconciliationSucceeded", "Applied revision: %s" % revision)

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
                    chart_dir = self.repo_root / (chart.get("spec") or {}).get("chart", "").strip("./")
                    objects = charts.helm_template(chart_dir, release, target_ns, values, self.api_versions(),
                                                   KUBE_VERSION)
                    inventory = self._apply(objects, target_ns, meta, status.get("inventory"))
                else:
                    charts.validate_values(self.schema_dir, chart_name, values)
                    inventory = status.get("inventory")
            except charts.ChartError as exc:
                raise Failed("InstallFailed" if action == "install" else "UpgradeFailed",
                             "Helm %s failed for release %s/%s with chart %s@%s: %s" % (
                                 action, target_ns, release, chart_name, version, exc)) from exc
            prog = {"request": request, "deadline": time.monotonic() + duration(spec.get("timeout"), 300.0),
                    "inventory": inventory}
            self.progress[key] = prog
        waiting = self._not_ready_workloads(prog["inventory"])
        if waiting:
            if time.monotonic() > prog["deadline"]:
                raise Failed("InstallFailed" if action == "install" else "UpgradeFailed",
                             "Helm %s failed for release %s/%s with chart %s@%s: timed out waiting for the "
                             "condition: %s" % (action, target_ns, release, chart_name, version,
                                                ", ".join(waiting[:5])))
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
