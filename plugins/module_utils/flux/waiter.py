# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for a Flux object to finish a request: a watch from the observed resourceVersion and a monotonic clock.

No sleeps: the API server pushes every change of the object; a watch that ends (server timeout, 410 Gone) is
resumed from a fresh GET.
"""

from __future__ import annotations

import time

from ansible_collections.supertodo.platform.plugins.module_utils.flux import conditions
from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import (
    NotFoundError,
    ReconcileFailedError,
    ReconcileTimeoutError,
)
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError


def ref(kind, namespace, name):
    return "%s %s/%s" % (kind, namespace, name)


def wait_for(client, api_version, kind, namespace, name, token, timeout, extra_tokens=(), clock=time.monotonic,
             initial=None):
    """Return ``(object, seconds)`` once the request with ``token`` succeeded.

    Raises ``ReconcileFailedError`` as soon as the controller reports failure for it, ``ReconcileTimeoutError``
    after ``timeout`` seconds (the message names the missing conditions and what the object last reported).
    ``initial`` is the object as the trigger's PATCH returned it (saves one GET).
    """
    start = clock()
    deadline = start + timeout
    obj = initial
    while True:
        if obj is None:
            obj = client.get(api_version, kind, name, namespace)
            if obj is None:
                raise NotFoundError("%s not found" % ref(kind, namespace, name))
        state, reason, message = conditions.evaluate(obj, token, extra_tokens)
        if state == conditions.SUCCEEDED:
            return obj, clock() - start
        if state == conditions.FAILED:
            raise ReconcileFailedError("%s reconcile failed: %s: %s" % (ref(kind, namespace, name), reason, message),
                                       {"object": obj, "duration": clock() - start})
        remaining = deadline - clock()
        if remaining <= 0:
            raise ReconcileTimeoutError(
                "%s not ready after %ss: missing %s; last reported: %s" % (
                    ref(kind, namespace, name), _fmt(timeout), ", ".join(conditions.missing(obj, token, extra_tokens)),
                    conditions.describe(obj)),
                {"object": obj, "duration": clock() - start})
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        try:
            obj = _watch_until_change(client, api_version, kind, namespace, name, rv, remaining, token,
                                      extra_tokens, clock, deadline)
        except ApiError as exc:
            if exc.status in (410, 0):   # resourceVersion too old, or the stream broke: start again from a GET
                obj = None
                continue
            raise


def _watch_until_change(client, api_version, kind, namespace, name, rv, remaining, token, extra_tokens, clock,
                        deadline):
    """Watch the object from ``rv``; return it as soon as its evaluation is terminal, else the last version seen.

    Returns ``None`` when the watch ended without news (the caller GETs again).
    """
    last = None
    for etype, event_obj in client.watch(api_version, kind, namespace=namespace, name=name, resource_version=rv,
                                         timeout=max(1, int(remaining + 0.999))):
        if etype == "ERROR":
            code = (event_obj or {}).get("code", 0)
            raise ApiError("watch %s: %s" % (ref(kind, namespace, name), (event_obj or {}).get("message")), code or 410)
        if etype == "DELETED":
            raise NotFoundError("%s was deleted while waiting" % ref(kind, namespace, name))
        if etype in ("ADDED", "MODIFIED"):
            last = event_obj
            if conditions.evaluate(event_obj, token, extra_tokens)[0] != conditions.PENDING:
                return event_obj
        if clock() >= deadline:
            break
    return last


def _fmt(seconds):
    return ("%d" % seconds) if float(seconds).is_integer() else ("%.1f" % seconds)
