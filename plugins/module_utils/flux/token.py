# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile request tokens and the patches that carry them (fluxcd/pkg apis/meta annotations)."""

from __future__ import annotations

import calendar
import re
import time

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"

_last = [0]
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


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


def token_time(token):
    """The time a token stands for, in nanoseconds since the epoch, or ``None`` when it is not a time.

    Accepts RFC 3339 with up to nine fractional digits (what the Flux CLI and this collection write) and plain Unix
    seconds (``kubectl annotate ... requestedAt="$(date +%s)"``, the Flux documentation's example).
    """
    text = str(token or "").strip()
    if text.isdigit():
        return int(text) * 1_000_000_000
    match = _RFC3339.match(text)
    if not match:
        return None
    day, clock, frac, zone = match.groups()
    try:
        secs = calendar.timegm(time.strptime("%sT%s" % (day, clock), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def handled_at_or_after(handled, token):
    """Whether a handled token (``status.lastHandled*At``) covers our request ``token``.

    The controller acts on the newest annotation only, so a handled request at or after ours includes ours (the
    Flux CLI likewise accepts any handled request newer than the one it saw). Tokens that are not times only
    count when they are equal.
    """
    if handled is None:
        return False
    if handled == token:
        return True
    ours, theirs = token_time(token), token_time(handled)
    return ours is not None and theirs is not None and theirs >= ours
