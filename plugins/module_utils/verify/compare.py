# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wanted against live, row by row: both sides formatted by the same function and compared in normalised form
(quantities as numbers, log levels case-folded, host lists sorted), so ``1000m`` and ``1`` are not drift."""

from __future__ import annotations

import json

from ansible_collections.supertodo.platform.plugins.module_utils.verify.common import ROWS, VerifyInputError, get, quantity
from ansible_collections.supertodo.platform.plugins.module_utils.verify.readiness import readiness

_LOG_LEVELS = {"warn": "warning", "err": "error", "dbg": "debug", "information": "info", "fatal": "critical"}


def _fmt_pair(low, high):
    if low is None and high is None:
        return None
    return "%s-%s" % (low if low is not None else "?", high if high is not None else "?")


def display(row, value):
    """Human text of one row's value."""
    if value is None:
        return "missing"
    if row == "namespace":
        return str(value)
    if row == "replicas":
        if "min" in value:
            return "%s-%s (HPA)" % (value.get("min"), value.get("max"))
        return str(value.get("replicas"))
    if row == "postgresql":
        n = int(value.get("instances") or 0)
        return "1 instance" if n == 1 else "%d-node HA cluster" % n
    if row == "redis":
        if value.get("mode") == "cluster":
            return "cluster, %s nodes (%s replica each)" % (value.get("nodes"), value.get("replicas"))
        return str(value.get("mode"))
    if row == "storage":
        return "PostgreSQL %s, Redis %s" % (value.get("postgres") or "-", value.get("redis") or "-")
    if row == "ingress":
        return "%s%s" % (", ".join(value.get("hosts") or []), " (TLS)" if value.get("tls") else "")
    if row == "limits":
        cpu = _fmt_pair(value.get("cpu_request"), value.get("cpu_limit"))
        mem = _fmt_pair(value.get("memory_request"), value.get("memory_limit"))
        if cpu is None and mem is None:
            return "none"
        return "CPU %s, memory %s" % (cpu or "-", mem or "-")
    if row == "hpa":
        if not value.get("enabled"):
            return "disabled"
        text = "enabled (%s-%s pods" % (value.get("min"), value.get("max"))
        if value.get("cpu") is not None:
            text += ", CPU %s%%" % value.get("cpu")
        return text + ")"
    if row == "monitoring":
        return "enabled" if value.get("enabled") else "disabled"
    if row == "backups":
        if not value.get("enabled"):
            return "disabled"
        details = [d for d in (value.get("destination"), value.get("schedule") and "schedule %s" % value["schedule"]) if d]
        return "enabled" + (" (%s)" % ", ".join(details) if details else "")
    if row == "log_level":
        return str(value)
    if row == "network_policies":
        return value.get("mode") if isinstance(value, dict) else str(value)
    raise VerifyInputError("unknown report row %r" % row)


def normalise(row, value):
    """The comparable form of a row's value: what counts for drift."""
    if value is None:
        return None
    if row == "replicas":
        if "min" in value:
            return ("hpa", int(value["min"]), int(value["max"]))
        return ("fixed", int(value["replicas"]))
    if row == "postgresql":
        return int(value.get("instances") or 0)
    if row == "redis":
        if value.get("mode") == "cluster":
            return ("cluster", int(value.get("nodes") or 0), int(value.get("replicas") or 0))
        return (value.get("mode"),)
    if row == "storage":
        return (quantity(value.get("postgres")), quantity(value.get("redis")))
    if row == "ingress":
        return (tuple(sorted(value.get("hosts") or [])), bool(value.get("tls")))
    if row == "limits":
        return tuple(quantity(value.get(k)) for k in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"))
    if row == "hpa":
        if not value.get("enabled"):
            return (False,)
        cpu = value.get("cpu")
        return (True, int(value.get("min") or 1), int(value.get("max") or 0), int(cpu) if cpu is not None else None)
    if row == "monitoring":
        return bool(value.get("enabled"))
    if row == "backups":
        if not value.get("enabled"):
            return (False,)
        return (True, (value.get("destination") or "").rstrip("/") or None, value.get("schedule"))
    if row == "log_level":
        level = str(value).strip().lower()
        return _LOG_LEVELS.get(level, level)
    if row == "network_policies":
        return value.get("mode") if isinstance(value, dict) else str(value)
    return value


def compare(row, wanted, live):
    """(drift?, note). A wanted value of None means nothing says what is wanted: not compared."""
    if wanted is None:
        return False, "not set in the inventory"
    want, have = normalise(row, wanted), normalise(row, live)
    if row == "hpa" and want and want[0] and have and have[0] and want[3] is None:
        have = have[:3] + (None,)  # no CPU target wanted: compare min/max only
    if row == "backups" and want and want[0] and have and have[0] and want[2] is None:
        have = have[:2] + (None,)  # no schedule wanted: compare the destination only
    return want != have, ""


def _split_wanted(wanted):
    """``wanted`` is either one value per row, or ``{facts, sources}`` as produced_facts returns it."""
    if not isinstance(wanted, dict):
        raise VerifyInputError("wanted values must be a dict, got %s" % type(wanted).__name__)
    if set(wanted) == {"facts", "sources"} and isinstance(wanted["facts"], dict):
        return wanted["facts"], wanted["sources"] or {}
    return wanted, {}


def build_report(live, wanted, environment, namespace, objects, promotion=None, generated_at=None):
    """The whole report: rows (wanted vs live, drift), readiness, the last promotion record."""
    wanted, wanted_sources = _split_wanted(wanted)
    rows = []
    for key, label in ROWS:
        want = wanted.get(key)
        have = live["facts"].get(key)
        try:
            drift, note = compare(key, want, have)
        except (VerifyInputError, TypeError, ValueError) as exc:
            raise VerifyInputError("row %s: %s (wanted %r, live %r)" % (label, exc, want, have)) from exc
        row = {
            "key": key, "feature": label,
            "wanted": display(key, want) if want is not None else "(not set)",
            "live": display(key, have),
            "drift": drift, "note": note, "live_source": live["sources"].get(key, ""),
            "wanted_value": want, "live_value": have,
        }
        if wanted_sources:
            row["wanted_source"] = wanted_sources.get(key, "")
        rows.append(row)
    ready = readiness(objects)
    return {
        "environment": environment, "namespace": namespace, "generated_at": generated_at,
        "ready": ready["ready"], "problems": ready["problems"], "objects": ready["objects"],
        "drift": [r["feature"] for r in rows if r["drift"]], "rows": rows,
        "last_promotion": parse_promotion(promotion),
    }


def parse_promotion(configmap):
    """The last promotion record from the ``supertodo-promotions`` ConfigMap, or None."""
    if not configmap:
        return None
    data = get(configmap, "data", default={}) or {}
    raw = data.get("last")
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return {"error": "ConfigMap %s: key last is not JSON: %s" % (get(configmap, "metadata", "name"), exc)}
    return record if isinstance(record, dict) else {"error": "key last is not a JSON object"}
