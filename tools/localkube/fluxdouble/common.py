"""What the reconcilers of the Flux controller double share (see the package docstring for the contract it follows):
the Flux kinds and their API versions, the annotations and labels of that contract, Ready/Reconciling/Stalled
conditions, Go durations, and the two outcomes of a reconcile that is not done (``Retry``, ``Failed``)."""

from __future__ import annotations

import datetime
import logging
import re

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
