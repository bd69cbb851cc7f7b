# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The success / failure predicate of a reconcile request, the revision table and source resolution."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from ansible_collections.supertodo.platform.plugins.module_utils.flux import conditions, kinds, sources  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import UnknownKindError  # noqa: E402
from flux_fakes import flux_obj  # noqa: E402

T = "2026-11-28T09:00:00.123Z"
OLD = "2026-11-27T08:00:00Z"


def test_stale_ready_is_not_success():
    obj = flux_obj("HelmRelease", "app", ready="True", handled=OLD)
    state, dummy, dummy = conditions.evaluate(obj, T)
    assert state == conditions.PENDING
    assert conditions.missing(obj, T) == ["status.lastHandledReconcileAt >= %s (is %s)" % (T, OLD)]


def test_success_needs_token_generation_and_ready():
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled=T), T)[0] == conditions.SUCCEEDED
    unobserved = flux_obj("HelmRelease", "app", generation=3, observed=2, ready="True", handled=T)
    assert conditions.evaluate(unobserved, T)[0] == conditions.PENDING
    assert "status.observedGeneration == 3 (is 2)" in conditions.missing(unobserved, T)
    unknown = flux_obj("HelmRelease", "app", ready=None, handled=T)
    assert conditions.evaluate(unknown, T)[0] == conditions.PENDING


def test_ready_false_after_our_token_fails_with_the_objects_message():
    state, reason, message = conditions.evaluate(flux_obj("HelmRelease", "app", ready="False", handled=T), T)
    assert (state, reason, message) == (conditions.FAILED, "InstallFailed", "chart values are wrong")


def test_ready_false_before_our_token_or_while_retrying_is_pending():
    assert conditions.evaluate(flux_obj("HelmRelease", "a", ready="False", handled=OLD), T)[0] == conditions.PENDING
    retrying = flux_obj("HelmRelease", "a", ready="False", handled=T, reconciling=True)
    assert conditions.evaluate(retrying, T)[0] == conditions.PENDING


def test_stalled_after_our_token_fails_even_while_reconciling():
    obj = flux_obj("HelmRelease", "a", ready="False", handled=T, reconciling=True, stalled="retries exhausted")
    assert conditions.evaluate(obj, T) == (conditions.FAILED, "RetriesExceeded", "retries exhausted")
    stale = flux_obj("HelmRelease", "a", ready="False", handled=OLD, stalled="old failure")
    assert conditions.evaluate(stale, T)[0] == conditions.PENDING


def test_force_token_must_be_handled_too():
    obj = flux_obj("HelmRelease", "a", ready="True", handled=T, status={"lastHandledForceAt": OLD})
    extra = ["reconcile.fluxcd.io/forceAt"]
    assert conditions.evaluate(obj, T, extra)[0] == conditions.PENDING
    obj["status"]["lastHandledForceAt"] = T
    assert conditions.evaluate(obj, T, extra)[0] == conditions.SUCCEEDED


def test_describe_names_ready_and_handled_token():
    text = conditions.describe(flux_obj("Kustomization", "k", ready="False", handled=OLD, stalled="boom"))
    assert "Ready=False InstallFailed: chart values are wrong" in text
    assert "Stalled=True RetriesExceeded: boom" in text and OLD in text


def test_kind_aliases_and_unknown_kind():
    assert kinds.canonical_kind("hr") == "HelmRelease"
    assert kinds.api_version("ks") == "kustomize.toolkit.fluxcd.io/v1"
    assert kinds.api_version("GitRepository") == "source.toolkit.fluxcd.io/v1"
    with pytest.raises(UnknownKindError, match="unknown Flux kind 'Deployment'"):
        kinds.canonical_kind("Deployment")


def test_revision_per_kind():
    ks = flux_obj("Kustomization", "k", status={"lastAppliedRevision": "main@sha1:abc"})
    hr = flux_obj("HelmRelease", "h", status={"history": [{"chartName": "super-todo", "chartVersion": "0.1.0"}],
                                              "lastAttemptedRevision": "0.0.9"})
    hr_new = flux_obj("HelmRelease", "h", status={"lastAttemptedRevision": "0.1.0"})
    src = flux_obj("GitRepository", "g", status={"artifact": {"revision": "main@sha1:def"}})
    assert [kinds.revision(o) for o in (ks, hr, hr_new, src)] == [
        "main@sha1:abc", "super-todo@0.1.0", "0.1.0", "main@sha1:def"]
    assert kinds.revision(flux_obj("Bucket", "b")) is None


def test_source_of_each_kind():
    ks = flux_obj("Kustomization", "apps", spec={"sourceRef": {"kind": "GitRepository", "name": "flux-system"}})
    assert sources.source_of(ks) == ("GitRepository", "flux-system", "flux-system")
    hr = flux_obj("HelmRelease", "super-todo", namespace="staging", spec={"chart": {"spec": {
        "chart": "charts/super-todo", "sourceRef": {"kind": "GitRepository", "name": "flux-system",
                                                    "namespace": "flux-system"}}}})
    assert sources.source_of(hr) == ("HelmChart", "flux-system", "staging-super-todo")
    hr["status"]["helmChart"] = "flux-system/other-chart"
    assert sources.source_of(hr) == ("HelmChart", "flux-system", "other-chart")
    ref = flux_obj("HelmRelease", "r", namespace="staging", spec={"chartRef": {"kind": "OCIRepository", "name": "o"}})
    assert sources.source_of(ref) == ("OCIRepository", "staging", "o")
    chart = flux_obj("HelmChart", "c", spec={"sourceRef": {"kind": "HelmRepository", "name": "bitnami"}})
    assert sources.source_of(chart) == ("HelmRepository", "flux-system", "bitnami")
    assert sources.source_of(flux_obj("GitRepository", "g")) is None


def test_dependency_order_is_stable_and_detects_cycles():
    app = flux_obj("HelmRelease", "app", spec={"dependsOn": [{"name": "db"}, {"name": "cache"}]})
    db = flux_obj("HelmRelease", "db")
    cache = flux_obj("HelmRelease", "cache", spec={"dependsOn": [{"name": "db"}, {"name": "elsewhere"}]})
    ordered = sources.dependency_order([app, db, cache])
    assert [o["metadata"]["name"] for o in ordered] == ["db", "cache", "app"]
    db["spec"]["dependsOn"] = [{"name": "app"}]
    with pytest.raises(ValueError, match="dependsOn cycle"):
        sources.dependency_order([app, db, cache])


def test_dependency_cycle_names_each_object_once():
    ca = flux_obj("Kustomization", "ca", spec={"dependsOn": [{"name": "cb"}]})
    cb = flux_obj("Kustomization", "cb", spec={"dependsOn": [{"name": "ca"}]})
    with pytest.raises(ValueError) as err:
        sources.dependency_order([ca, cb])
    assert str(err.value) == "dependsOn cycle: Kustomization flux-system/ca -> Kustomization flux-system/cb -> " \
                             "Kustomization flux-system/ca"
    selfish = flux_obj("Kustomization", "cc", spec={"dependsOn": [{"name": "cc"}]})
    with pytest.raises(ValueError, match=r"^dependsOn cycle: Kustomization flux-system/cc -> "
                                         r"Kustomization flux-system/cc$"):
        sources.dependency_order([selfish])


def test_a_newer_handled_token_counts_an_older_one_does_not():
    newer = "2026-11-28T09:00:00.2Z"      # 200ms after T, fewer digits: compared as times, not as strings
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled=newer), T)[0] \
        == conditions.SUCCEEDED
    assert conditions.missing(flux_obj("HelmRelease", "app", ready="True", handled=newer), T) == []
    older = "2026-11-28T09:00:00.12299Z"
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled=older), T)[0] \
        == conditions.PENDING
    assert conditions.missing(flux_obj("HelmRelease", "app", ready="True", handled=older), T) == [
        "status.lastHandledReconcileAt >= %s (is %s)" % (T, older)]
    # a newer request that failed is a failure of ours too: the controller will not handle ours any more
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="False", handled=newer), T)[0] \
        == conditions.FAILED
    # `kubectl annotate ... requestedAt="$(date +%s)"` (the Flux docs' example) writes Unix seconds
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled="1795856401"), T)[0] \
        == conditions.SUCCEEDED
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled="1700000000"), T)[0] \
        == conditions.PENDING
    # a token that is no time at all only counts when it is ours
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled="manual"), T)[0] \
        == conditions.PENDING
    assert conditions.evaluate(flux_obj("HelmRelease", "app", ready="True", handled="manual"), "manual")[0] \
        == conditions.SUCCEEDED
