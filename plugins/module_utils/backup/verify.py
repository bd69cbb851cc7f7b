# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL backup checks over a barman-cloud archive, from one streaming listing of the server prefix.

Checks (each ``ok``/``failed``/``skipped`` with a message): ``archive`` (something is there), ``base_backups``,
``backup_age``, ``retention``, ``wal_continuity``, ``rpo``, ``deep`` (optional) and ``cluster`` (optional).
"""

from __future__ import annotations

import bz2
import datetime
import lzma
import re
import tarfile
import zlib

from ansible_collections.supertodo.platform.plugins.module_utils.backup.barman import (
    Backup,
    classify_key,
    is_data_tar,
    parse_backup_info,
)
from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import iso, utcnow
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError, StorageError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import (
    DEFAULT_SEGMENT_SIZE,
    RunTracker,
    history_timeline,
    parse_history,
    parse_segment,
    segment_name,
    timeline_path,
)

CHECK_ORDER = ("archive", "base_backups", "backup_age", "retention", "wal_continuity", "rpo", "deep", "cluster")


class Thresholds:
    def __init__(self, max_backup_age=None, retention_window=None, retention_tolerance=None, rpo=None,
                 min_backups=1):
        self.max_backup_age = max_backup_age
        self.retention_window = retention_window
        self.retention_tolerance = retention_tolerance
        self.rpo = rpo
        self.min_backups = min_backups


class Archive:
    """What the listing found: backups, WAL runs, history and partial files, the newest segment."""

    def __init__(self):
        self.objects = 0
        self.bytes = 0
        self.backups = []
        self.unreadable = []
        self.data_files = {}
        self.tracker = RunTracker()
        self.history_keys = {}
        self.partials = []
        self.newest_segment = None  # (tli, segno, name, last_modified)
        self.newest_segment_key = None
        self.newest_wal_time = None
        self.segment_size = None
        self.bad_names = 0


def scan(store, server_prefix):
    """One paginated pass over ``server_prefix``; backup.info files are read as they are met (they sort first)."""
    arc = Archive()
    for key, size, modified in store.list(server_prefix):
        arc.objects += 1
        arc.bytes += size or 0
        kind, ident, extra = classify_key(key, server_prefix)
        if kind == "wal":
            base, _suffix = extra
            if ident == "segment":
                segsize = arc.segment_size or DEFAULT_SEGMENT_SIZE
                try:
                    tli, segno = parse_segment(base, segsize)
                except ParseError:
                    arc.bad_names += 1
                    continue
                arc.tracker.add(tli, segno)
                if arc.newest_segment is None or (tli, segno) > arc.newest_segment[:2]:
                    arc.newest_segment = (tli, segno, base, modified)
                    arc.newest_segment_key = key
                if modified and (arc.newest_wal_time is None or modified > arc.newest_wal_time):
                    arc.newest_wal_time = modified
            elif ident == "history":
                arc.history_keys[history_timeline(base)] = key
            elif ident == "partial":
                arc.partials.append(base)
        elif kind == "backup_info":
            _read_backup(store, arc, ident, key, modified)
        elif kind == "backup_data" and is_data_tar(extra):
            arc.data_files.setdefault(ident, []).append((extra, key, size))
    arc.backups.sort(key=lambda b: (b.begin_time or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc),
                                    b.backup_id))
    for backup in arc.backups:
        if backup.status == "DONE":
            backup.problems.extend(data_problems(backup, arc.data_files.get(backup.backup_id, [])))
    return arc


def _read_backup(store, arc, backup_id, key, modified):
    try:
        data, meta = store.read_object(key, limit=4 * 1024 * 1024)
        text = data.decode("utf-8")
        backup = Backup(backup_id, parse_backup_info(text, "backup.info of %s" % backup_id), key, modified)
    except (ParseError, UnicodeDecodeError) as exc:
        arc.unreadable.append({"backup_id": backup_id, "key": key, "error": str(exc)})
        return
    backup.encryption = meta.get("encryption")
    arc.backups.append(backup)
    if backup.usable and arc.segment_size is None:
        arc.segment_size = backup.segment_size


# barman-cloud-backup names its tars <name>.tar[.gz|...] then <name>_0001.tar, <name>_0002.tar ... when one grows past
# --max-archive-size; <name> is "data" for the data directory and the tablespace's OID for each tablespace
_TAR_PART = re.compile(r"^(data|\d+)(?:_(\d{4,}))?\.tar(?:\.[a-z0-9]+)?$")
_TABLESPACE = re.compile(r"name='([^']*)', oid=(\d+)")


def data_problems(backup, files):
    """What is wrong with a DONE backup's data objects as listed: ``data.tar`` and each tablespace tar present, every
    split part from the first to the last listed, none empty. ``files``: ``[(filename, key, size)]``."""
    problems = []
    where = "base/%s/" % backup.backup_id
    parts = {}
    for filename, dummy, size in sorted(files):
        match = _TAR_PART.match(filename)
        if match:
            parts.setdefault(match.group(1), {})[int(match.group(2) or 0)] = filename
        if not size:
            problems.append("%s is empty (0 bytes)" % filename)
    wanted = [("data", "")] + [(oid, " (tablespace %s)" % name)
                               for name, oid in _TABLESPACE.findall(str(backup.info.get("tablespaces") or ""))]
    for name, what in wanted:
        numbers = parts.get(name)
        if not numbers:
            problems.append("%s.tar missing under %s%s" % (name, where, what))
            continue
        for number in range(0, max(numbers)):
            if number not in numbers:
                problems.append("%s missing under %s (%s is listed)" % (
                    "%s.tar" % name if number == 0 else "%s_%04d.tar" % (name, number), where,
                    numbers[max(numbers)]))
    return problems


def _result(status, message, **extra):
    out = {"status": status, "message": message}
    out.update(extra)
    return out


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


def _histories(store, arc):
    parsed = {}
    for tli, key in sorted(arc.history_keys.items()):
        data = store.read(key, limit=1024 * 1024)
        if key.endswith(".gz"):
            data = zlib.decompress(data, 47)
        elif key.endswith(".bz2"):
            data = bz2.decompress(data)
        elif key.endswith(".xz"):
            data = lzma.decompress(data)
        parsed[tli] = parse_history(data.decode("utf-8", "replace"), "%08X.history" % tli)
    return parsed


def _continuity(store, arc, usable):
    """Replay path from the oldest usable backup's begin WAL to the newest segment; gaps as name ranges."""
    size = arc.segment_size or DEFAULT_SEGMENT_SIZE
    target_tli = arc.newest_segment[0]
    try:
        histories = _histories(store, arc) if target_tli != usable[0].timeline else {}
    except (ParseError, zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        return _result("failed", "timeline history unreadable: %s" % exc), [], None
    gaps = []
    start_backup = None
    path = None
    last_error = "no usable backup"
    # the oldest usable backup whose timeline leads to the target timeline
    for backup in usable:
        try:
            path = timeline_path(backup.timeline, parse_segment(backup.begin_wal, size)[1], target_tli,
                                 histories, size)
        except ParseError as exc:
            last_error = exc
            continue
        start_backup = backup
        break
    if start_backup is None:
        return _result("failed", str(last_error)), [], None
    for tli, first, last in path:
        if last is None:
            last = arc.tracker.newest(tli)
            if last is None or last < first:
                gaps.append({"timeline": tli, "first": segment_name(tli, first, size), "last": None, "segments": None})
                continue
        for gap_first, gap_last in arc.tracker.missing(tli, first, last):
            gaps.append({"timeline": tli, "first": segment_name(tli, gap_first, size),
                         "last": segment_name(tli, gap_last, size), "segments": gap_last - gap_first + 1})
    # backups whose own WAL range (begin..end) lies after the last gap are the ones that restore consistently
    first_point = start_backup.end_time
    if gaps:
        last_gap = gaps[-1]
        tail = [b for b in usable if b.begin_wal and b.end_wal and last_gap["last"]
                and (b.timeline, b.begin_wal[8:]) > (last_gap["timeline"], last_gap["last"][8:])]
        first_point = tail[0].end_time if tail else None
        text = ", ".join("%s..%s (%s segments)" % (g["first"], g["last"] or "newest", g["segments"] or "all")
                         for g in gaps)
        return (_result("failed", "WAL gaps between backup %s's begin WAL %s and the newest segment %s: %s"
                        % (start_backup.backup_id, start_backup.begin_wal, arc.newest_segment[2], text)),
                gaps, first_point)
    timelines = " -> ".join(str(p[0]) for p in path)
    return (_result("ok", "%d segments contiguous from %s (backup %s) to %s, timelines %s"
                    % (arc.tracker.count, start_backup.begin_wal, start_backup.backup_id, arc.newest_segment[2],
                       timelines)), gaps, first_point)


def _own_wal(arc, backup):
    """The newest usable backup needs every segment from its begin_wal through its end_wal to become consistent.

    Returns ``None`` when they are all archived, else ``{"message", "gaps"}``.
    """
    size = arc.segment_size or DEFAULT_SEGMENT_SIZE
    tli, first = parse_segment(backup.begin_wal, size)
    end_tli, last = parse_segment(backup.end_wal, size)
    if end_tli != tli:      # a backup does not span a timeline switch; judge the end timeline's part
        tli, first = end_tli, min(first, last)
    missing = arc.tracker.missing(tli, first, last)
    if not missing:
        return None
    gaps = [{"timeline": tli, "first": segment_name(tli, a, size), "last": segment_name(tli, b, size),
             "segments": b - a + 1} for a, b in missing]
    return {"gaps": gaps, "message": "the newest backup %s needs WAL %s through its end_wal %s to reach a consistent "
                                     "state; not archived: %s" % (
                                         backup.backup_id, backup.begin_wal, backup.end_wal,
                                         ", ".join("%s..%s (%d segments)" % (g["first"], g["last"], g["segments"])
                                                   for g in gaps))}


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


class _CountingReader:
    """A file-like wrapper that counts the compressed bytes read from the S3 body."""

    def __init__(self, body):
        self.body = body
        self.count = 0

    def read(self, size=-1):
        data = self.body.read(size if size and size > 0 else None)
        self.count += len(data)
        return data


def deep_check(store, arc, backup):
    """Read the newest usable backup's tar(s) to the end: tar structure, byte counts, backup_label."""
    if backup is None:
        return _result("failed", "no usable backup to read")
    files = sorted(arc.data_files.get(backup.backup_id, []))
    if not files:
        return _result("failed", "backup %s has no data tar under base/%s/" % (backup.backup_id, backup.backup_id))
    members = 0
    payload = 0
    label = None
    encryption = {}
    for filename, key, listed_size in files:
        body, length, meta = store.open_object(key)
        encryption[filename] = meta.get("encryption")
        reader = _CountingReader(body)
        try:
            with tarfile.open(fileobj=_decompressor(filename, reader), mode="r|") as tar:
                for member in tar:
                    members += 1
                    if member.isfile():
                        handle = tar.extractfile(member)
                        got = 0
                        chunk = handle.read(1 << 20)
                        while chunk:
                            got += len(chunk)
                            if filename.startswith("data.") and member.name.lstrip("./") == "backup_label":
                                label = (label or b"") + chunk
                            chunk = handle.read(1 << 20)
                        if got != member.size:
                            raise tarfile.ReadError("member %s: %d of %d bytes" % (member.name, got, member.size))
                        payload += got
            while reader.read(1 << 20):
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            return _result("failed", "backup %s: %s is not a complete tar archive: %s"
                           % (backup.backup_id, filename, exc or type(exc).__name__))
        except store.read_errors() as exc:
            raise store.error(exc, "reading %s" % key) from exc
        finally:
            body.close()
        expected = length if length is not None else listed_size
        if reader.count != expected:
            return _result("failed", "backup %s: %s read %d bytes, the object is %s bytes"
                           % (backup.backup_id, filename, reader.count, expected))
    if label is None:
        return _result("failed", "backup %s: data tar has no backup_label" % backup.backup_id)
    text = label.decode("utf-8", "replace")
    if backup.backup_label and text.strip() != str(backup.backup_label).strip():
        return _result("failed", "backup %s: backup_label in the tar differs from backup.info" % backup.backup_id)
    if backup.begin_wal and backup.begin_wal not in text:
        return _result("failed", "backup %s: backup_label does not name begin_wal %s" % (backup.backup_id,
                                                                                         backup.begin_wal))
    return _result("ok", "backup %s: %d tar files, %d members, %d bytes of data read to the end; backup_label "
                         "matches backup.info; server-side encryption %s"
                   % (backup.backup_id, len(files), members, payload,
                      ", ".join(sorted(set(encryption.values())))),
                   members=members, data_bytes=payload, encryption=encryption)


class _Decompress:
    def __init__(self, reader, decompressor):
        self.reader = reader
        self.dec = decompressor
        self.buffer = b""
        self.eof = False

    def read(self, size=-1):
        while not self.eof and (size < 0 or len(self.buffer) < size):
            raw = self.reader.read(1 << 16)
            if not raw:
                if not getattr(self.dec, "eof", True):
                    raise EOFError("compressed stream ended before its end marker (truncated)")
                self.eof = True
                break
            self.buffer += self.dec.decompress(raw)
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def _decompressor(filename, reader):
    if filename.endswith(".gz"):
        return _Decompress(reader, zlib.decompressobj(47))
    if filename.endswith(".bz2"):
        return _Decompress(reader, bz2.BZ2Decompressor())
    if filename.endswith(".xz"):
        return _Decompress(reader, lzma.LZMADecompressor())
    if filename.endswith(".tar"):
        return reader
    raise ValueError("compression of %s is not supported by the deep check (tar, gz, bz2, xz)" % filename)


def storage_failure(exc):
    """A result for a StorageError (the whole run could not happen)."""
    return {"checks": {exc.check if isinstance(exc, StorageError) else "storage": _result("failed", str(exc))},
            "failed_checks": [exc.check if isinstance(exc, StorageError) else "storage"]}
