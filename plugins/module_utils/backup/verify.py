# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL backup checks over a barman-cloud archive, from one streaming listing of the server prefix.

Checks (each ``ok``/``failed``/``skipped`` with a message): ``archive`` (something is there), ``base_backups``,
``backup_age``, ``retention``, ``wal_continuity``, ``rpo``, ``deep`` (optional) and ``cluster`` (optional).
"""

from __future__ import annotations

import datetime

from ansible_collections.supertodo.platform.plugins.module_utils.backup.archive import scan
from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import check_result as _result, iso, utcnow
from ansible_collections.supertodo.platform.plugins.module_utils.backup.continuity import _continuity, _own_wal
from ansible_collections.supertodo.platform.plugins.module_utils.backup.deep import deep_check
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError

CHECK_ORDER = ("archive", "base_backups", "backup_age", "retention", "wal_continuity", "rpo", "deep", "cluster")


class Thresholds:
    def __init__(self, max_backup_age=None, retention_window=None, retention_tolerance=None, rpo=None,
                 min_backups=1):
        self.max_backup_age = max_backup_age
        self.retention_window = retention_window
        self.retention_tolerance = retention_tolerance
        self.rpo = rpo
        self.min_backups = min_backups


def run_checks(store, server_prefix, thresholds, deep=False, now=None, cluster_check=None):
    """Scan the archive and run every check; returns the module's result dict (``failed_checks`` lists names)."""
    now = now or utcnow()
    arc = scan(store, server_prefix)
    url = "s3://%s/%s" % (store.bucket, server_prefix)
    checks = {}
    usable = [b for b in arc.backups if b.usable]
    result = {
        "backups": [_backup_dict(b, arc) for b in arc.backups],
        "unreadable_backups": arc.unreadable,
        "objects": arc.objects,
        "bytes": arc.bytes,
        "segments": arc.tracker.count,
        "gaps": [],
        "rpo_seconds": None,
        "newest_wal": arc.newest_segment[2] if arc.newest_segment else None,
        "newest_wal_time": iso(arc.newest_wal_time),
        "recovery_window": {"first": None, "last": None},
        "s3_requests": None,
    }
    if arc.objects == 0:
        checks["archive"] = _result("failed", "empty archive: no objects under %s (wrong destination_path or "
                                              "server_name, or nothing was ever archived)" % url)
        for name in CHECK_ORDER[1:]:
            if name == "deep" and not deep or name == "cluster" and cluster_check is None:
                continue
            checks[name] = _result("skipped", "nothing to check: the archive is empty")
        if cluster_check is not None:
            checks["cluster"] = cluster_check()
        return _finish(result, checks, store)
    result["encryption"] = _encryption(store, arc)
    checks["archive"] = _result("ok", "%d objects, %d bytes under %s; server-side encryption %s"
                                % (arc.objects, arc.bytes, url, _encryption_text(result["encryption"])))

    # -- base backups ----------------------------------------------------------------------------------
    problems = []
    newest = arc.backups[-1] if arc.backups else None
    if arc.unreadable:
        problems.append("unreadable backup.info: %s" % "; ".join("%s (%s)" % (u["backup_id"], u["error"])
                                                                 for u in arc.unreadable))
    failed = [b for b in arc.backups if b.status == "FAILED"]
    if newest is not None and newest.status == "FAILED":
        problems.append("the newest backup %s is FAILED: %s" % (newest.backup_id, newest.error or "no error text"))
    broken = [b for b in arc.backups if b.status == "DONE" and not b.usable]
    if broken:
        problems.append("DONE backups that cannot be restored: %s" % "; ".join(
            "%s (%s)" % (b.backup_id, ", ".join(b.problems)) for b in broken))
    if len(usable) < thresholds.min_backups:
        problems.append("%d usable (DONE) backups, fewer than min_backups %d" % (len(usable), thresholds.min_backups))
    summary = "%d backups: %d usable, %d FAILED%s" % (
        len(arc.backups), len(usable), len(failed),
        ", %d unreadable" % len(arc.unreadable) if arc.unreadable else "")
    if problems:
        checks["base_backups"] = _result("failed", "%s; %s" % (summary, "; ".join(problems)))
    else:
        note = " (older FAILED backups: %s)" % ", ".join(b.backup_id for b in failed) if failed else ""
        checks["base_backups"] = _result("ok", summary + note)

    # -- newest good backup's age -------------------------------------------------------------------------
    newest_good = usable[-1] if usable else None
    if newest_good is None:
        checks["backup_age"] = _result("failed", "no usable (DONE) backup in %s" % url)
    else:
        age = (now - newest_good.end_time).total_seconds()
        result["newest_backup_age_seconds"] = round(age, 3)
        if thresholds.max_backup_age is not None and age > thresholds.max_backup_age:
            checks["backup_age"] = _result("failed", "the newest DONE backup %s ended %s, %.0fs ago, older than "
                                                     "max_backup_age %.0fs" % (newest_good.backup_id,
                                                                               iso(newest_good.end_time), age,
                                                                               thresholds.max_backup_age))
        else:
            checks["backup_age"] = _result("ok", "the newest DONE backup %s ended %.0fs ago"
                                           % (newest_good.backup_id, age))

    # -- WAL continuity -------------------------------------------------------------------------------------
    first_point = None
    if not usable:
        checks["wal_continuity"] = _result("failed", "no usable backup to start WAL replay from")
    elif arc.newest_segment is None:
        checks["wal_continuity"] = _result("failed", "no WAL segment archived under %swals/" % url)
    else:
        checks["wal_continuity"], gaps, first_point = _continuity(store, arc, usable)
        result["gaps"] = gaps
        own = _own_wal(arc, usable[-1])
        if own:
            for gap in own["gaps"]:
                if gap not in gaps:
                    gaps.append(gap)
            if checks["wal_continuity"]["status"] == "ok":
                checks["wal_continuity"] = _result("failed", own["message"])
            else:
                checks["wal_continuity"]["message"] += "; " + own["message"]
            if len(usable) == 1:
                first_point = None      # the only backup never becomes consistent: nothing is recoverable
    if first_point is not None:
        result["recovery_window"] = {"first": iso(first_point), "last": iso(arc.newest_wal_time)}

    # -- retention ---------------------------------------------------------------------------------------------
    checks["retention"] = _retention(usable, thresholds, now)

    # -- RPO ------------------------------------------------------------------------------------------------------
    if arc.newest_wal_time is None:
        checks["rpo"] = _result("failed", "no archived WAL segment: nothing after the last backup is recoverable")
    else:
        rpo = (now - arc.newest_wal_time).total_seconds()
        result["rpo_seconds"] = round(max(rpo, 0.0), 3)
        if thresholds.rpo is not None and rpo > thresholds.rpo:
            checks["rpo"] = _result("failed", "the newest archived WAL %s is %.0fs old, beyond rpo %.0fs"
                                    % (arc.newest_segment[2], rpo, thresholds.rpo))
        else:
            checks["rpo"] = _result("ok", "the newest archived WAL %s is %.0fs old" % (arc.newest_segment[2], rpo))

    if deep:
        checks["deep"] = deep_check(store, arc, newest_good)
    if cluster_check is not None:
        checks["cluster"] = cluster_check()
    return _finish(result, checks, store)


def _finish(result, checks, store):
    result["checks"] = {name: checks[name] for name in CHECK_ORDER if name in checks}
    result["failed_checks"] = [name for name, check in result["checks"].items() if check["status"] == "failed"]
    result["s3_requests"] = store.requests
    return result


def _backup_dict(backup, arc):
    out = backup.as_dict()
    files = arc.data_files.get(backup.backup_id, [])
    out["data_files"] = len(files)
    out["data_bytes"] = sum(size or 0 for dummy, dummy, size in files)
    out["encryption"] = getattr(backup, "encryption", None)
    return out


def _encryption(store, arc):
    """The server-side encryption the server reports: each backup.info read, and the newest WAL segment (one HEAD)."""
    backups = {b.backup_id: getattr(b, "encryption", None) or "none" for b in arc.backups}
    wal = store.head(arc.newest_segment_key)["encryption"] if arc.newest_segment_key else None
    seen = set(backups.values()) | ({wal} if wal else set())
    summary = seen.pop() if len(seen) == 1 else ("mixed" if seen else None)
    return {"backups": backups, "wal": wal, "wal_segment": arc.newest_segment[2] if arc.newest_segment else None,
            "summary": summary}


def _encryption_text(enc):
    """``AES256``, ``none`` or ``mixed (...)`` naming what reported what."""
    if enc["summary"] != "mixed":
        return str(enc["summary"])
    by_alg = {}
    for backup_id, alg in sorted(enc["backups"].items()):
        by_alg.setdefault(alg, []).append("backup %s" % backup_id)
    if enc["wal"]:
        by_alg.setdefault(enc["wal"], []).append("the newest WAL %s" % enc["wal_segment"])
    return "mixed (%s)" % "; ".join("%s: %s" % (alg, ", ".join(what)) for alg, what in sorted(by_alg.items()))


def _retention(usable, thresholds, now):
    window = thresholds.retention_window
    if window is None:
        return _result("skipped", "no retention_window given")
    if not usable:
        return _result("failed", "no usable backup, so no part of the %.0fs retention window is covered" % window)
    start = now - datetime.timedelta(seconds=window)
    covering = [b for b in usable if b.end_time <= start]
    if not covering:
        return _result("failed", "the oldest usable backup %s ended %s, after the start of the retention window "
                                 "(%s): the window is not covered" % (usable[0].backup_id, iso(usable[0].end_time),
                                                                      iso(start)))
    tolerance = thresholds.retention_tolerance or 0
    # Barman's recovery-window policy keeps the newest backup older than the window; anything older is obsolete
    obsolete = [b for b in covering[:-1] if (start - b.end_time).total_seconds() > tolerance]
    if obsolete:
        return _result("failed", "retention not enforcing: %d backups older than the window are still kept (%s), "
                                 "the oldest from %s" % (len(obsolete), ", ".join(b.backup_id for b in obsolete),
                                                         iso(obsolete[0].end_time)))
    return _result("ok", "the window from %s is covered by backup %s" % (iso(start), covering[-1].backup_id))


def storage_failure(exc):
    """A result for a StorageError (the whole run could not happen)."""
    return {"checks": {exc.check if isinstance(exc, StorageError) else "storage": _result("failed", str(exc))},
            "failed_checks": [exc.check if isinstance(exc, StorageError) else "storage"]}
