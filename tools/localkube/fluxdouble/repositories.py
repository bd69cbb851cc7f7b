"""GitRepository, HelmRepository, OCIRepository and Bucket for the Flux controller double (see the package docstring
for the contract it follows): the source-controller artifact of each, and whether a source is ready to use."""

from __future__ import annotations

import subprocess

from localkube.fluxdouble import charts, sources
from localkube.fluxdouble.common import FLUX_KINDS, Failed, Retry, now, ready_now


class RepositoryReconciler:
    """Mixed into ``Controller``: uses ``self.client`` and ``self.artifacts``."""

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
