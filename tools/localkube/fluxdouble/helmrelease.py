"""HelmRelease for the Flux controller double (see the package docstring for the contract it follows): dependencies,
the HelmChart it installs from, helm template and server-side apply of a chart from Git (values validated against
the chart's schema otherwise), waiting for its workloads, and the release history."""

from __future__ import annotations

import time

from localkube.fluxdouble import charts
from localkube.fluxdouble.common import (
    FIELD_MANAGER,
    FLUX_KINDS,
    FORCE_AT,
    KUBE_VERSION,
    LABEL_NAME,
    LABEL_NS,
    REQUESTED_AT,
    RESET_AT,
    RETRY_AFTER,
    SOURCE,
    WORKLOADS,
    Failed,
    Retry,
    duration,
    now,
    ready_now,
)
from localkube.rest import ApiError


class HelmReleaseReconciler:
    """Mixed into ``Controller``: uses ``self.client``, ``self.artifacts``, ``self.schema_dir``, ``self.progress``
    and ``_source_ready``."""

    def _deps_ready(self, obj):
        kind = obj["kind"]
        namespace = obj["metadata"].get("namespace")
        for dep in (obj.get("spec") or {}).get("dependsOn") or []:
            dns = dep.get("namespace") or namespace
            other = self.client.get(FLUX_KINDS[kind], kind, dep["name"], dns)
            if other is None or not ready_now(other):
                raise Retry("DependencyNotReady", "dependency '%s/%s' is not ready" % (dns, dep["name"]), after=5.0)

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
