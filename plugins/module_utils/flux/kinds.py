# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Flux kinds the modules handle: API version, aliases and where each kind reports the revision it applied.

Served versions follow the CRDs of the schema directory (source-controller v1, helm-controller v2,
kustomize-controller v1).
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import UnknownKindError

SOURCE_GROUP = "source.toolkit.fluxcd.io/v1"
HELM_GROUP = "helm.toolkit.fluxcd.io/v2"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/v1"

# kind -> apiVersion; the order is the order ``flux_info`` lists kinds in (sources first, like ``flux get all``)
KINDS = {
    "GitRepository": SOURCE_GROUP,
    "OCIRepository": SOURCE_GROUP,
    "HelmRepository": SOURCE_GROUP,
    "Bucket": SOURCE_GROUP,
    "HelmChart": SOURCE_GROUP,
    "Kustomization": KUSTOMIZE_GROUP,
    "HelmRelease": HELM_GROUP,
}
SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart")

_ALIASES = {
    "hr": "HelmRelease", "helmrelease": "HelmRelease", "helmreleases": "HelmRelease",
    "ks": "Kustomization", "kustomization": "Kustomization", "kustomizations": "Kustomization",
    "gitrepo": "GitRepository", "gitrepository": "GitRepository", "gitrepositories": "GitRepository",
    "git": "GitRepository",
    "ocirepository": "OCIRepository", "ocirepositories": "OCIRepository", "oci": "OCIRepository",
    "helmrepository": "HelmRepository", "helmrepositories": "HelmRepository", "helmrepo": "HelmRepository",
    "helmchart": "HelmChart", "helmcharts": "HelmChart", "chart": "HelmChart",
    "bucket": "Bucket", "buckets": "Bucket",
}


def canonical_kind(kind):
    """``HelmRelease`` for ``hr``, ``helmrelease``, ``HelmRelease``...; raises ``UnknownKindError``."""
    if kind in KINDS:
        return kind
    found = _ALIASES.get(str(kind).lower())
    if not found:
        raise UnknownKindError("unknown Flux kind %r (one of %s)" % (kind, ", ".join(KINDS)))
    return found


def api_version(kind):
    return KINDS[canonical_kind(kind)]


def is_source(kind):
    return canonical_kind(kind) in SOURCE_KINDS


def revision(obj):
    """The revision the controller last applied (or fetched, for a source); ``None`` when none yet.

    Kustomization: ``status.lastAppliedRevision``. HelmRelease v2: the chart name@version of
    ``status.history[0]`` (the latest snapshot), else ``status.lastAttemptedRevision``. Sources:
    ``status.artifact.revision``.
    """
    status = obj.get("status") or {}
    kind = obj.get("kind")
    if kind == "Kustomization":
        return status.get("lastAppliedRevision") or None
    if kind == "HelmRelease":
        history = status.get("history") or []
        if history:
            snap = history[0]
            if snap.get("chartName") and snap.get("chartVersion"):
                return "%s@%s" % (snap["chartName"], snap["chartVersion"])
            return snap.get("chartVersion") or None
        return status.get("lastAttemptedRevision") or None
    return (status.get("artifact") or {}).get("revision") or None
