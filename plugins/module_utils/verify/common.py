# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the environment report shares: the rows, the error type, quantities and object access."""

from __future__ import annotations

import re

ROWS = (
    ("namespace", "Namespace"),
    ("replicas", "Replicas"),
    ("postgresql", "PostgreSQL"),
    ("redis", "Redis"),
    ("storage", "Storage"),
    ("ingress", "Ingress"),
    ("limits", "Resource limits"),
    ("hpa", "HPA"),
    ("monitoring", "Monitoring"),
    ("backups", "Backups"),
    ("log_level", "Log level"),
    ("network_policies", "Network policies"),
)

_SUFFIX = {
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40, "Pi": 2.0 ** 50, "Ei": 2.0 ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


class VerifyInputError(ValueError):
    """The wanted values or the objects have a shape the report cannot use."""


def quantity(value):
    """Kubernetes quantity -> float (``"250m"`` -> 0.25, ``"1Gi"`` -> 1073741824.0); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise VerifyInputError("%r is not a Kubernetes quantity" % (value,))
    return float(match.group(1)) * _SUFFIX[match.group(2) or ""]


def get(obj, *path, default=None):
    """``obj[path[0]][path[1]]...``, or ``default`` where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def condition(obj, ctype):
    for cond in get(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == ctype:
            return cond
    return None


def by_name(items, name):
    for item in items or []:
        if get(item, "metadata", "name") == name:
            return item
    return None
