"""WAL names, segment arithmetic, timeline histories and run tracking."""

from __future__ import annotations

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup import wal
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError


def test_segment_round_trip_and_log_wrap():
    assert wal.parse_segment("0000000100000000000000FF") == (1, 255)
    assert wal.segment_name(1, 256) == "000000010000000100000000"
    assert wal.parse_segment("000000020000000A00000003") == (2, 10 * 256 + 3)


def test_segment_size_changes_segments_per_log():
    size = 64 * 1024 * 1024
    assert wal.segments_per_log(size) == 64
    assert wal.segment_name(1, 64, size) == "000000010000000100000000"
    with pytest.raises(ParseError):
        wal.parse_segment("000000010000000000000040", size)  # 0x40 = 64 is beyond a 64-segment log
    with pytest.raises(ParseError):
        wal.segments_per_log(3 * 1024 * 1024)


@pytest.mark.parametrize("name,kind,suffix", [
    ("000000010000000000000003", "segment", ""),
    ("000000010000000000000003.gz", "segment", ".gz"),
    ("000000010000000000000003.zst", "segment", ".zst"),
    ("00000002.history", "history", ""),
    ("00000002.history.bz2", "history", ".bz2"),
    ("000000010000000000000002.00000028.backup.gz", "backup", ".gz"),
    ("000000010000000000000005.partial.snappy", "partial", ".snappy"),
    ("notes.txt", "other", ""),
])
def test_classify(name, kind, suffix):
    got = wal.classify(name)
    assert got[0] == kind and got[2] == suffix


def test_history_parse_and_path():
    history = wal.parse_history("1\t0/5000060\tno recovery target specified\n\n2\t0/9000000\tpromoted\n")
    assert history == [(1, 0x5000060), (2, 0x9000000)]
    path = wal.timeline_path(1, 2, 3, {3: history})
    assert path == [(1, 2, 4), (2, 5, 8), (3, 9, None)]
    with pytest.raises(ParseError, match="has no 00000003.history"):
        wal.timeline_path(1, 2, 3, {})
    with pytest.raises(ParseError, match="does not descend"):
        wal.timeline_path(4, 2, 3, {3: history})
    with pytest.raises(ParseError):
        wal.parse_history("garbage line\n")


def test_run_tracker_gaps_duplicates_and_order():
    tracker = wal.RunTracker()
    for segno in [1, 2, 2, 3, 6, 7, 9]:
        tracker.add(1, segno)
    assert tracker.count == 6 and tracker.duplicates == 1
    assert tracker.missing(1, 1, 9) == [(4, 5), (8, 8)]
    assert tracker.missing(1, 6, 7) == []
    assert tracker.missing(1, 2, 12) == [(4, 5), (8, 8), (10, 12)]
    tracker.add(1, 4)  # out of listing order: merged
    assert tracker.out_of_order == 1
    assert tracker.missing(1, 1, 9) == [(5, 5), (8, 8)]
    assert tracker.newest(1) == 9 and tracker.oldest(1) == 1


def test_run_tracker_memory_does_not_grow_with_segments():
    tracker = wal.RunTracker()
    for segno in range(100000):
        tracker.add(1, segno)
    assert tracker.runs == {1: [[0, 99999]]}
    assert tracker.count == 100000


def test_lsn():
    assert wal.lsn_to_int("1/0") == 1 << 32
    assert wal.lsn_segno("0/5000060") == 5
    with pytest.raises(ParseError):
        wal.lsn_to_int("nope")
