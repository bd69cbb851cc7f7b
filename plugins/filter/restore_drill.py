# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore drill (roles/restore_drill): the preflight plan (which backup, which target, inside the
recovery window), the verdict of each read-only SQL check, and the drill records kept in the cluster.

A check's output can hold data: it is reduced to a SHA-256 digest, a row count and (for a ``max_age_seconds``
check) an age; the output itself is never returned.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import age_text, iso

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
CHECK_KEYS = ("name", "query", "database", "expected", "max_age_seconds")


def _duration(value, name):
    """Seconds from 30, "90s", "15m", "1h30m", "7d", "1w"; "" or None -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not re.fullmatch(r"(\d+(\.\d+)?[smhdw])+", text):
        raise ValueError("%s %r is not a duration (use e.g. 30s, 15m, 1h30m, 7d)" % (name, value))
    return float(sum(float(n) * _UNITS[u] for n, _f, u in re.findall(r"(\d+(\.\d+)?)([smhdw])", text)))


def _time(value):
    if value in (None, "", "None"):
        return None
    text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
    stamp = datetime.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp


def _now(now):
    return _time(now) if now else datetime.datetime.now(datetime.timezone.utc)


def check_problems(checks):
    """Input problems of restore_drill_checks, each naming the check (an empty list when they are valid)."""
    problems = []
    if not isinstance(checks, list):
        return ["restore_drill_checks must be a list of {name, query, expected | max_age_seconds}"]
    names = set()
    for index, check in enumerate(checks):
        ref = "restore_drill_checks[%d]" % index
        if not isinstance(check, dict):
            problems.append("%s is not a dict" % ref)
            continue
        name = check.get("name")
        if not name or not isinstance(name, str):
            problems.append("%s needs a name" % ref)
        else:
            ref = "restore_drill_checks[%d] (%s)" % (index, name)
            if name in names:
                problems.append("%s: the name is used twice" % ref)
            names.add(name)
        unknown = sorted(set(check) - set(CHECK_KEYS))
        if unknown:
            problems.append("%s: unknown keys %s (allowed: %s)" % (ref, ", ".join(unknown), ", ".join(CHECK_KEYS)))
        query = str(check.get("query") or "").strip().rstrip(";").strip()
        if not query:
            problems.append("%s needs a query" % ref)
        elif ";" in query:
            problems.append("%s: the query must be one statement (no ';' inside)" % ref)
        has_expected = "expected" in check
        has_age = "max_age_seconds" in check
        if has_expected == has_age:
            problems.append("%s needs exactly one of expected or max_age_seconds" % ref)
        if has_age:
            try:
                if float(check["max_age_seconds"]) <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append("%s: max_age_seconds must be a positive number (got %r)"
                                % (ref, check["max_age_seconds"]))
    return problems


def plan(verify, backup_id="latest", target_time="", max_backup_age="", now=None):
    """Choose the backup to restore from a backup_verify result and check the drill's bounds before it starts.

    Returns ``{"problems": [...], "backup": {...} | None, "target_time", "recovery_window", "backup_age_seconds"}``;
    a non-empty ``problems`` means the drill must not start.
    """
    problems = []
    now = _now(now)
    window = dict((verify or {}).get("recovery_window") or {"first": None, "last": None})
    target = None
    if target_time not in (None, ""):
        if not _RFC3339.match(str(target_time).strip()):
            problems.append("restore_drill_target_time %r is not an RFC 3339 time such as 2026-12-01T10:00:00Z"
                            % (target_time,))
        else:
            target = _time(target_time)
    try:
        max_age = _duration(max_backup_age, "restore_drill_max_backup_age")
    except ValueError as exc:
        problems.append(str(exc))
        max_age = None
    backups = [b for b in (verify or {}).get("backups") or [] if b.get("usable")]
    result = {"problems": problems, "backup": None, "target_time": iso(target), "recovery_window": window,
              "backup_age_seconds": None}
    if problems:
        return result
    if not backups:
        problems.append("no usable (DONE) backup in the archive: nothing to restore")
        return result
    first, last = _time(window.get("first")), _time(window.get("last"))
    if target is not None:
        if first is None or last is None or not first <= target <= last:
            problems.append("restore_drill_target_time %s is outside the recovery window %s .. %s"
                            % (iso(target), window.get("first") or "(none)", window.get("last") or "(none)"))
            return result
    candidates = [b for b in backups if target is None or (_time(b.get("end_time")) and _time(b["end_time"]) <= target)]
    if str(backup_id) in ("", "latest"):
        if not candidates:
            problems.append("no usable backup ended before restore_drill_target_time %s" % iso(target))
            return result
        chosen = candidates[-1]
    else:
        found = [b for b in backups if b.get("backup_id") == str(backup_id)]
        if not found:
            problems.append("restore_drill_backup_id %s is not a usable backup of the archive (usable: %s)"
                            % (backup_id, ", ".join(b["backup_id"] for b in backups)))
            return result
        chosen = found[0]
        if chosen not in candidates:
            problems.append("restore_drill_backup_id %s ended at %s, after restore_drill_target_time %s"
                            % (backup_id, chosen.get("end_time"), iso(target)))
            return result
    age = (now - _time(chosen["end_time"])).total_seconds()
    result["backup_age_seconds"] = round(age, 1)
    keys = ("backup_id", "begin_time", "end_time", "begin_wal", "end_wal", "timeline")
    result["backup"] = {key: chosen.get(key) for key in keys}
    if max_age is not None and age > max_age:
        problems.append("backup %s ended at %s, %s ago, older than restore_drill_max_backup_age %s"
                        % (chosen["backup_id"], chosen.get("end_time"), age_text(age), max_backup_age))
    return result


def evaluate(check, rc, stdout, stderr="", now=None):
    """The verdict of one check from psql's unaligned output; the output is only hashed."""
    out = (stdout or "").strip()
    result = {"name": check.get("name"), "database": check.get("database"),
              "output_sha256": hashlib.sha256(out.encode("utf-8")).hexdigest(),
              "rows": len(out.splitlines()) if out else 0}
    if "expected" in check:
        expected = check["expected"]
        if isinstance(expected, bool):
            expected = "t" if expected else "f"
        result["expected_sha256"] = hashlib.sha256(str(expected).strip().encode("utf-8")).hexdigest()
    else:
        result["max_age_seconds"] = float(check["max_age_seconds"])
    if rc != 0:
        # psql's error names the statement's problem (a relation, a column, read-only), never a row
        first = (stderr or "").strip().splitlines()
        result.update(status="failed", message="the query failed: %s" % (first[0][:300] if first else "rc %s" % rc))
        return result
    if "expected" in check:
        ok = out == str(expected).strip()
        result.update(status="passed" if ok else "failed",
                      message="the output equals the expected value" if ok
                      else "the output (sha256 %s, %d rows) differs from the expected value"
                      % (result["output_sha256"][:12], result["rows"]))
        return result
    try:
        stamp = _time(out)
    except ValueError:
        stamp = None
    if stamp is None:
        result.update(status="failed", message="the output is not one timestamp (sha256 %s, %d rows)"
                      % (result["output_sha256"][:12], result["rows"]))
        return result
    age = (_now(now) - stamp).total_seconds()
    result["age_seconds"] = round(age, 1)
    ok = age <= result["max_age_seconds"]
    result.update(status="passed" if ok else "failed",
                  message="the newest time is %.0fs old, %s max_age_seconds %.0f"
                  % (age, "within" if ok else "beyond", result["max_age_seconds"]))
    return result


def drill_history(configmap):
    """The drill records of the drill ConfigMap (newest first); [] when there is none."""
    data = ((configmap or {}).get("data") or {}).get("history")
    if not data:
        return []
    records = json.loads(data)
    if not isinstance(records, list):
        raise ValueError("the drill ConfigMap's history is not a JSON list")
    return records


def record(report):
    """The report as kept in the cluster: the beyond-RPO sample rows (live data) left out."""
    kept = json.loads(json.dumps(report))
    for item in kept.get("beyond_rpo") or []:
        if isinstance(item, dict):
            item.pop("sample", None)
    return kept


class FilterModule:
    """Restore drill filters."""

    def filters(self):
        return {"restore_drill_check_problems": check_problems, "restore_drill_plan": plan,
                "restore_drill_evaluate": evaluate, "restore_drill_history": drill_history,
                "restore_drill_record": record}
