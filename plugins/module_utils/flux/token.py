# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile request tokens and the patches that carry them (fluxcd/pkg apis/meta annotations)."""

from __future__ import annotations

import time

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"

_last = [0]


def new_token(now_ns=None):
    """A fresh token: the current UTC time in RFC 3339 with nanoseconds, as the Flux CLI writes it.

    Strictly increasing within the process, so two requests in the same nanosecond still differ.
    """
    ns = time.time_ns() if now_ns is None else int(now_ns)
    if ns <= _last[0]:
        ns = _last[0] + 1
    _last[0] = ns
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    fraction = ("%09d" % frac).rstrip("0")
    return "%s%sZ" % (stamp, "." + fraction if fraction else "")


def request_annotations(token, kind, force=False, reset=False):
    """The annotations of one request: requestedAt, plus forceAt / resetAt (HelmRelease only), all the same token."""
    annotations = {REQUESTED_AT: token}
    if kind == "HelmRelease":
        if force:
            annotations[FORCE_AT] = token
        if reset:
            annotations[RESET_AT] = token
    return annotations


def request_patch(token, kind, force=False, reset=False):
    """The merge patch that asks the controller to reconcile now."""
    return {"metadata": {"annotations": request_annotations(token, kind, force, reset)}}
