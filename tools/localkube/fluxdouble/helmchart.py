"""HelmChart for the Flux controller double (see the package docstring for the contract it follows): a chart from
a HelmRepository's index (the schema folder's charts), or packaged from a GitRepository's artifact."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile

from localkube.fluxdouble import charts, sources
from localkube.fluxdouble.common import RETRY_AFTER, Failed, Retry, now


class HelmChartReconciler:
    """Mixed into ``Controller``: uses ``self.artifacts``, ``self.schema_dir`` and ``_source_ready``."""

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
