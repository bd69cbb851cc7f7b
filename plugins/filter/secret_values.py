# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the secrets role (roles/secrets): which live Secrets to read, and the value of each key.

- ``secret_reads``: the specs -> the entries of one supertodo.platform.k8s_objects_info task that gets each
  Secret by name, under its spec id.
- ``secret_values``: the specs, the live Secrets read, the inventory values -> the value of each key (the live
  Secret when generation is allowed, then the inventory, then a generated one) and the keys nothing provides.

No value ever appears in an error message: errors name the Secret and the key only.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

GENERATED_CHARS = string.ascii_letters + string.digits


def _specs(specs, name):
    if not isinstance(specs, Sequence) or isinstance(specs, (str, bytes)):
        raise AnsibleFilterError("%s: expects a list of Secret specs, got %s" % (name, type(specs).__name__))
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or "id" not in spec or not isinstance(spec.get("keys"), Mapping):
            raise AnsibleFilterError("%s: Secret spec %d needs `id` and a `keys` mapping" % (name, index))
    return specs


def secret_reads(specs, names):
    """One k8s_objects_info entry per spec: a GET of the Secret ``names[id]``, its objects under the key ``id``."""
    reads = []
    for spec in _specs(specs, "secret_reads"):
        if spec["id"] not in (names or {}):
            raise AnsibleFilterError("secret_reads: supertodo_secret_names has no name for %s" % spec["id"])
        reads.append({"api_version": "v1", "kind": "Secret", "name": names[spec["id"]], "key": spec["id"]})
    return reads


def _live_data(live, spec_id):
    """The ``data`` of the live Secret read under ``spec_id`` ({} when it does not exist)."""
    found = (live or {}).get(spec_id)
    if isinstance(found, Sequence) and not isinstance(found, (str, bytes)):
        found = found[0] if found else None
    if not isinstance(found, Mapping):
        return "", {}
    return (found.get("metadata") or {}).get("name", spec_id), found.get("data") or {}


def _decode(secret_name, key, encoded):
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        # the cause could quote the data: name the Secret and the key only
        raise AnsibleFilterError("secret_values: Secret %s: key %s is not base64-encoded UTF-8 text"
                                 % (secret_name, key)) from None


def _generate(length):
    return "".join(secrets.choice(GENERATED_CHARS) for dummy in range(length))


def secret_values(specs, live, values, generate_missing=False, length=32):
    """The value of each key of each spec, by spec id, and the keys nothing provides.

    For each key, in this order: the live Secret's value (``live[id]``, the Secret objects read for the spec; only
    when ``generate_missing``), the inventory value (``values[variable]``, empty or null counts as unset), a value
    of ``length`` letters and digits when ``generate_missing`` and the key is in the spec's ``generate``.
    Returns ``{"values": {id: {key: value}}, "missing": {id: [keys]}}``; ``missing`` lists only the specs that
    lack a key, the keys in the spec's order.
    """
    generate_missing = bool(generate_missing)
    try:
        length = int(length)
    except (TypeError, ValueError):
        length = 0
    if generate_missing and length < 1:
        raise AnsibleFilterError("secret_values: secrets_generated_length must be a whole number >= 1")
    values = values or {}
    chosen, missing = {}, {}
    for spec in _specs(specs, "secret_values"):
        secret_name, live_data = _live_data(live, spec["id"]) if generate_missing else ("", {})
        out = {}
        for key, variable in spec["keys"].items():
            inventory = values.get(variable)
            inventory = "" if inventory is None else str(inventory)
            if key in live_data:
                out[key] = _decode(secret_name, key, live_data[key])
            elif inventory:
                out[key] = inventory
            elif generate_missing and key in (spec.get("generate") or []):
                out[key] = _generate(length)
        chosen[spec["id"]] = out
        lacking = [key for key in spec["keys"] if key not in out]
        if lacking:
            missing[spec["id"]] = lacking
    return {"values": chosen, "missing": missing}


class FilterModule:
    """Filters of the supertodo.platform secrets role."""

    def filters(self):
        return {"secret_reads": secret_reads, "secret_values": secret_values}
