# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conditions and the predicate that decides whether a reconcile request finished, failed or is still pending.

Success for a request with token T (the Flux CLI's contract, without its "stale Ready" gap):

* ``status.lastHandledReconcileAt`` at or after T (and ``lastHandledForceAt`` / ``lastHandledResetAt`` at or after T
  when the request set them on a HelmRelease): the controller handles the newest annotation only, so a newer request
  of another client, once handled, includes ours,
* ``status.observedGeneration == metadata.generation``,
* condition ``Ready`` is ``True``.

Failure, reported at once: ``Stalled=True`` once T (or a newer request) is handled, or ``Ready=False`` once T is handled, the generation
observed and the controller no longer ``Reconciling`` (a release that retries is still in progress).
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.flux.token import FORCE_AT, RESET_AT, handled_at_or_after

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"

_HANDLED_FIELD = {
    "requestedAt": "lastHandledReconcileAt",
    FORCE_AT: "lastHandledForceAt",
    RESET_AT: "lastHandledResetAt",
}


def condition(obj, ctype):
    """The condition of type ``ctype`` (a dict) or ``None``."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_true(obj, ctype):
    cond = condition(obj, ctype)
    return bool(cond) and cond.get("status") == "True"


def is_suspended(obj):
    return bool((obj.get("spec") or {}).get("suspend"))


def describe(obj):
    """A one-line account of what the object last reported: Ready status/reason/message and handled token."""
    status = obj.get("status") or {}
    ready = condition(obj, "Ready")
    if ready:
        text = "Ready=%s %s: %s" % (ready.get("status"), ready.get("reason", ""), ready.get("message", ""))
    else:
        text = "no Ready condition"
    for extra in ("Reconciling", "Stalled"):
        cond = condition(obj, extra)
        if cond and cond.get("status") == "True":
            text += "; %s=True %s: %s" % (extra, cond.get("reason", ""), cond.get("message", ""))
    text += "; lastHandledReconcileAt=%s; observedGeneration=%s/generation=%s" % (
        status.get("lastHandledReconcileAt", "(none)"), status.get("observedGeneration", "(none)"),
        (obj.get("metadata") or {}).get("generation", "(none)"))
    return text


def missing(obj, token, extra_tokens=()):
    """The list of success conditions the object does not meet yet, in words (empty when it succeeded)."""
    status = obj.get("status") or {}
    gaps = []
    wanted = ["requestedAt"] + [a for a in extra_tokens if a in (FORCE_AT, RESET_AT)]
    for annotation in wanted:
        field = _HANDLED_FIELD[annotation]
        if not handled_at_or_after(status.get(field), token):
            gaps.append("status.%s >= %s (is %s)" % (field, token, status.get(field, "unset")))
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") != generation:
        gaps.append("status.observedGeneration == %s (is %s)" % (generation, status.get("observedGeneration", "unset")))
    ready = condition(obj, "Ready")
    if not ready or ready.get("status") != "True":
        gaps.append("condition Ready=True (is %s)" % (ready.get("status") if ready else "absent"))
    return gaps


def evaluate(obj, token, extra_tokens=()):
    """``(state, reason, message)`` of a request: state is PENDING, SUCCEEDED or FAILED."""
    if obj is None:
        return PENDING, "NotFound", "the object does not exist"
    status = obj.get("status") or {}
    handled = handled_at_or_after(status.get("lastHandledReconcileAt"), token)
    generation = (obj.get("metadata") or {}).get("generation")
    observed = generation is None or status.get("observedGeneration") == generation
    if handled:
        stalled = condition(obj, "Stalled")
        if stalled and stalled.get("status") == "True":
            return FAILED, stalled.get("reason", "Stalled"), stalled.get("message", "")
    if not missing(obj, token, extra_tokens):
        ready = condition(obj, "Ready")
        return SUCCEEDED, ready.get("reason", ""), ready.get("message", "")
    ready = condition(obj, "Ready")
    if handled and observed and ready and ready.get("status") == "False" and not is_true(obj, "Reconciling"):
        return FAILED, ready.get("reason", "Failed"), ready.get("message", "")
    return PENDING, (ready or {}).get("reason", ""), (ready or {}).get("message", "")
