"""Kustomization for the Flux controller double (see the package docstring for the contract it follows): source and
dependencies, build, staged server-side apply with owner labels, prune, and health checks until the timeout."""

from __future__ import annotations

import os
import tempfile
import time

from localkube.fluxdouble import kustomize, sources
from localkube.fluxdouble.common import (
    FLUX_KINDS,
    KS_LABEL_NAME,
    KS_LABEL_NS,
    KS_MANAGER,
    KS_PRUNE,
    KS_RECONCILE,
    KS_SSA,
    LOG,
    REQUESTED_AT,
    RETRY_AFTER,
    WORKLOADS,
    Failed,
    Retry,
    duration,
    ready_now,
)
from localkube.rest import ApiError


class KustomizationReconciler:
    """Mixed into ``Controller``: uses ``self.client``, ``self.artifacts`` and ``self.progress``."""

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
