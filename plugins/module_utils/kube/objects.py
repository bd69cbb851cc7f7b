# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read many kinds of objects in one process: one LIST per kind (a GET when a name is given), one HTTP session.

Used by the ``k8s_objects_info`` module. A kind the API server does not serve (its CRD is not installed) reads as
an empty list and is named in ``not_served``; a kind marked ``optional`` that the credentials may not read (403)
reads as an empty list and is named in ``forbidden``; any other error stops the read and names the kind, the
namespace and the cause.
"""

from __future__ import annotations

import copy
import time

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError, SupertodoError


class ObjectsReadError(SupertodoError):
    """One kind could not be read: the message names the kind, the namespace and the cause."""


def _label(resource):
    where = resource.get("namespace")
    what = "%s %s" % (resource["api_version"], resource["kind"])
    if resource.get("name"):
        what += " %s" % resource["name"]
    return "%s in namespace %s" % (what, where) if where else "%s (cluster scope)" % what


def _strip(obj, drop_managed_fields):
    if drop_managed_fields and isinstance(obj.get("metadata"), dict):
        obj = copy.copy(obj)
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return obj


def _fill(item, api_version, kind):
    # a LIST answers items without apiVersion/kind: put them back, as kubernetes.core.k8s_info does
    item.setdefault("apiVersion", api_version)
    item.setdefault("kind", kind)
    return item


def read_objects(client, resources, namespace=None, drop_managed_fields=True, clock=time.monotonic):
    """Read every entry of ``resources`` (``{api_version, kind, namespace?, name?, key?, optional?}``).

    Returns ``{"objects": {key: [objects]}, "not_served": [...], "forbidden": [...], "requests": n,
    "seconds": s}`` where ``key`` defaults to the kind. ``namespace`` is the default namespace of namespaced
    entries; a Namespace entry with a name reads that one Namespace.
    """
    start = clock()
    before = getattr(client, "requests", 0)
    objects, not_served, forbidden = {}, [], []
    for entry in resources:
        api_version, kind = entry["api_version"], entry["kind"]
        key = entry.get("key") or kind
        ns = entry.get("namespace") or (None if kind == "Namespace" else namespace)
        name = entry.get("name")
        label = _label(dict(entry, namespace=ns))
        objects.setdefault(key, [])
        try:
            if name:
                found = client.get(api_version, kind, name, ns)
                items = [found] if found else []
            else:
                items = (client.list(api_version, kind, ns) or {}).get("items") or []
        except ApiError as exc:
            if exc.status == 404:
                not_served.append(label)
                continue
            if exc.status == 403 and entry.get("optional"):
                forbidden.append("%s: %s" % (label, exc))
                continue
            raise ObjectsReadError("cannot read %s: %s" % (label, exc)) from exc
        objects[key].extend(_strip(_fill(item, api_version, kind), drop_managed_fields) for item in items)
    return {
        "objects": objects,
        "not_served": not_served,
        "forbidden": forbidden,
        "requests": getattr(client, "requests", 0) - before,
        "seconds": round(clock() - start, 3),
    }
