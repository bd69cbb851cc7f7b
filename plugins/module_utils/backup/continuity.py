# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``wal_continuity`` check's parts: the replay path from the oldest usable backup to the newest segment
(across timelines, by their history files), and the newest backup's own WAL (begin_wal through end_wal)."""

from __future__ import annotations

import bz2
import lzma
import zlib

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import check_result as _result
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import (
    DEFAULT_SEGMENT_SIZE,
    parse_history,
    parse_segment,
    segment_name,
    timeline_path,
)


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
