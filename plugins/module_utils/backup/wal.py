# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL file names and their arithmetic, as PostgreSQL and Barman name them.

A segment name is 24 hex digits: timeline (8), log id (8), segment within the log (8). With segment size S,
a log holds ``0x100000000 // S`` segments, so the absolute segment number is ``log * per_log + seg``.
Other WAL-directory files: ``<TLI>.history`` (timeline history), ``<segment>.<offset8>.backup`` (backup label)
and ``<segment>.partial`` (last partial segment of a timeline after a promotion). Any of them may carry a
compression suffix added by barman-cloud-wal-archive.
"""

from __future__ import annotations

import re

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".snappy", ".zst", ".lz4", ".xz")

_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
_HISTORY = re.compile(r"^([0-9A-F]{8})\.history$")
_BACKUP = re.compile(r"^([0-9A-F]{24})\.[0-9A-F]{8}\.backup$")
_PARTIAL = re.compile(r"^([0-9A-F]{24})\.partial$")


def strip_compression(name):
    """``(name without suffix, suffix or '')``."""
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def segments_per_log(segment_size=DEFAULT_SEGMENT_SIZE):
    if not segment_size or segment_size & (segment_size - 1) or segment_size > 1 << 30:
        raise ParseError("WAL segment size %r is not a power of two <= 1GB" % segment_size, "wal_continuity")
    return 0x100000000 // segment_size


def classify(filename):
    """Classify a file of the wals/ tree: ``("segment"|"history"|"backup"|"partial"|"other", base name, suffix)``."""
    base, suffix = strip_compression(filename)
    if _SEGMENT.match(base):
        return "segment", base, suffix
    if _HISTORY.match(base):
        return "history", base, suffix
    if _BACKUP.match(base):
        return "backup", base, suffix
    if _PARTIAL.match(base):
        return "partial", base, suffix
    return "other", base, suffix


def parse_segment(name, segment_size=DEFAULT_SEGMENT_SIZE):
    """``(timeline, absolute segment number)`` of a 24-hex segment name."""
    match = _SEGMENT.match(name or "")
    if not match:
        raise ParseError("%r is not a WAL segment name" % name, "wal_continuity")
    tli, log, seg = (int(g, 16) for g in match.groups())
    per_log = segments_per_log(segment_size)
    if seg >= per_log:
        raise ParseError("WAL segment %s is beyond the %d segments of a log at segment size %d"
                         % (name, per_log, segment_size), "wal_continuity")
    return tli, log * per_log + seg


def segment_name(tli, segno, segment_size=DEFAULT_SEGMENT_SIZE):
    per_log = segments_per_log(segment_size)
    return "%08X%08X%08X" % (tli, segno // per_log, segno % per_log)


def lsn_to_int(lsn):
    """``"0/3000060"`` -> int."""
    try:
        high, low = lsn.strip().split("/")
        return (int(high, 16) << 32) | int(low, 16)
    except (AttributeError, ValueError) as exc:
        raise ParseError("%r is not an LSN" % (lsn,), "wal_continuity") from exc


def lsn_segno(lsn, segment_size=DEFAULT_SEGMENT_SIZE):
    return lsn_to_int(lsn) // segment_size


def history_timeline(name):
    match = _HISTORY.match(strip_compression(name)[0])
    if not match:
        raise ParseError("%r is not a timeline history file name" % name, "wal_continuity")
    return int(match.group(1), 16)


def parse_history(text, name="history file"):
    """Parse a ``.history`` file: a list of ``(parent timeline, switch LSN as int)``, oldest first.

    Lines are ``<parentTLI>\\t<switchpoint X/Y>\\t<reason>``; blank lines and ``#`` comments are ignored.
    """
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 2)
        if len(fields) < 2 or not fields[0].isdigit():
            raise ParseError("%s line %d is not '<timeline> <switchpoint> <reason>': %r" % (name, number, line),
                             "wal_continuity")
        entries.append((int(fields[0]), lsn_to_int(fields[1])))
    return entries


class RunTracker:
    """Contiguous runs of segment numbers per timeline, fed in listing order.

    S3 lists keys in lexicographic order; within one timeline the fixed-width hex names sort numerically, so
    each new segment either extends the current run, repeats it (the same segment with another suffix) or starts
    a new run after a gap. Memory is O(timelines + gaps), not O(segments).
    """

    def __init__(self):
        self.runs = {}  # timeline -> list of [first, last]
        self.count = 0
        self.duplicates = 0
        self.out_of_order = 0

    def add(self, tli, segno):
        runs = self.runs.setdefault(tli, [])
        if runs and runs[-1][0] <= segno <= runs[-1][1]:
            self.duplicates += 1
            return
        self.count += 1
        if runs and segno == runs[-1][1] + 1:
            runs[-1][1] = segno
        elif not runs or segno > runs[-1][1]:
            runs.append([segno, segno])
        else:  # not in listing order (some S3 implementations): insert and merge
            self.out_of_order += 1
            runs.append([segno, segno])
            runs.sort()
            merged = [runs[0]]
            for first, last in runs[1:]:
                if first <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            self.runs[tli] = merged

    def newest(self, tli):
        runs = self.runs.get(tli)
        return runs[-1][1] if runs else None

    def oldest(self, tli):
        runs = self.runs.get(tli)
        return runs[0][0] if runs else None

    def missing(self, tli, first, last):
        """The ranges ``[a, b]`` of ``first..last`` not present on ``tli``."""
        gaps = []
        cursor = first
        for run_first, run_last in self.runs.get(tli, []):
            if run_last < cursor:
                continue
            if run_first > last:
                break
            if run_first > cursor:
                gaps.append((cursor, min(run_first - 1, last)))
            cursor = max(cursor, run_last + 1)
            if cursor > last:
                break
        if cursor <= last:
            gaps.append((cursor, last))
        return gaps


def timeline_path(start_tli, start_segno, target_tli, histories, segment_size=DEFAULT_SEGMENT_SIZE):
    """The segments needed to replay from ``start`` on ``start_tli`` into ``target_tli``.

    ``histories`` maps a timeline to its parsed history (``parse_history``). Returns a list of
    ``(timeline, first segno, last segno or None)``; ``None`` means "up to the newest segment". The switch segment
    (the one holding the switch LSN) is read from the new timeline, as PostgreSQL does.
    Raises ParseError when the target does not descend from ``start_tli``.
    """
    if target_tli == start_tli:
        return [(start_tli, start_segno, None)]
    history = histories.get(target_tli)
    if history is None:
        raise ParseError("timeline %d has no %08X.history file in the archive, so the switch from timeline %d "
                         "cannot be followed" % (target_tli, target_tli, start_tli), "wal_continuity")
    chain = list(history)
    if start_tli not in [tli for tli, dummy in chain]:
        raise ParseError("timeline %d does not descend from timeline %d (history: %s)"
                         % (target_tli, start_tli, [tli for tli, dummy in chain]), "wal_continuity")
    path = []
    cursor = start_segno
    started = False
    for index, (tli, switch) in enumerate(chain):
        if tli == start_tli:
            started = True
        if not started:
            continue
        switch_seg = switch // segment_size
        if switch_seg < cursor:
            raise ParseError("timeline %d switched away at segment %s before the start segment %s"
                             % (tli, segment_name(tli, switch_seg, segment_size),
                                segment_name(tli, cursor, segment_size)), "wal_continuity")
        if switch_seg - 1 >= cursor:
            path.append((tli, cursor, switch_seg - 1))
        cursor = switch_seg
        del index
    path.append((target_tli, cursor, None))
    return path
