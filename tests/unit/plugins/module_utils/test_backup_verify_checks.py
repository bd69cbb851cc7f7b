"""run_checks over a fake store: each check's verdict, timelines, gaps, retention and request counts."""

from __future__ import annotations

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from ansible_collections.supertodo.platform.plugins.module_utils.backup.verify import (  # noqa: E402
    Thresholds,
    run_checks,
)
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import segment_name  # noqa: E402
from backup_fakes import NOW, FakeStore, fill  # noqa: E402

PRE = "pg/postgres-production/"
DAY = datetime.timedelta(days=1)


def thresholds(**over):
    values = {"max_backup_age": 2 * 86400, "retention_window": 2 * 86400, "retention_tolerance": 86400,
              "rpo": 600, "min_backups": 1}
    values.update(over)
    return Thresholds(**values)


def archive(**kw):
    store = FakeStore()
    fill(store, range(1, 40), [("B1", 2, 3, NOW - 3 * DAY, "DONE"), ("B2", 20, 21, NOW - DAY, "DONE")], **kw)
    return store


def test_healthy():
    store = archive()
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == [], res["checks"]
    assert res["segments"] == 39 and res["newest_wal"] == segment_name(1, 39)
    assert res["recovery_window"]["first"] == (NOW - 3 * DAY).isoformat()
    assert res["rpo_seconds"] == 60
    # pages of 3 keys: every page is one request, plus one read per backup.info and one HEAD of the newest WAL
    assert res["s3_requests"] == store.pages + 2 + 1


def test_gap_and_window_after_it():
    store = archive()
    del store.objects["%swals/0000000100000000/%s.gz" % (PRE, segment_name(1, 10))]
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == ["wal_continuity"]
    assert res["gaps"] == [{"timeline": 1, "first": segment_name(1, 10), "last": segment_name(1, 10), "segments": 1}]
    # only B2 (after the gap) restores to a consistent point
    assert res["recovery_window"]["first"] == (NOW - DAY).isoformat()


def test_timeline_switch_with_history():
    store = archive()
    for segno in range(39, 45):  # timeline 2 starts in segment 39 (0/27000000)
        name = segment_name(2, segno)
        store.put("%swals/%s/%s.gz" % (PRE, name[:16], name), b"x")
    store.put(PRE + "wals/00000002.history", "1\t0/27000000\tpromoted\n")
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == [], res["checks"]
    assert "timelines 1 -> 2" in res["checks"]["wal_continuity"]["message"]
    del store.objects[PRE + "wals/00000002.history"]
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == ["wal_continuity"]
    assert "00000002.history" in res["checks"]["wal_continuity"]["message"]


def test_newest_failed_and_stale():
    store = archive()
    fill(store, [], [("B3", 30, 31, NOW, "FAILED")])
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == ["base_backups"]
    res = run_checks(archive(), PRE, thresholds(max_backup_age=3600), now=NOW)
    assert res["failed_checks"] == ["backup_age"]


def test_retention():
    res = run_checks(archive(), PRE, thresholds(retention_window=5 * 86400), now=NOW)
    assert res["failed_checks"] == ["retention"] and "not covered" in res["checks"]["retention"]["message"]
    res = run_checks(archive(), PRE, thresholds(retention_window=3600, retention_tolerance=0), now=NOW)
    assert res["failed_checks"] == ["retention"] and "not enforcing" in res["checks"]["retention"]["message"]
    res = run_checks(archive(), PRE, thresholds(retention_window=None), now=NOW)
    assert res["checks"]["retention"]["status"] == "skipped"


def test_rpo_and_min_backups():
    res = run_checks(archive(newest_age=3600), PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == ["rpo"]
    res = run_checks(archive(), PRE, thresholds(min_backups=3), now=NOW)
    assert res["failed_checks"] == ["base_backups"] and "min_backups 3" in res["checks"]["base_backups"]["message"]


def test_empty_archive():
    res = run_checks(FakeStore(), PRE, thresholds(), now=NOW, cluster_check=lambda: {"status": "ok", "message": "x"})
    assert res["failed_checks"] == ["archive"]
    assert res["checks"]["backup_age"]["status"] == "skipped"
    assert res["checks"]["cluster"]["status"] == "ok"


def test_done_backup_without_its_data_is_not_usable():
    store = archive()
    del store.objects[PRE + "base/B2/data.tar.gz"]
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert "base_backups" in res["failed_checks"], res["checks"]
    assert "B2 (data.tar missing under base/B2/)" in res["checks"]["base_backups"]["message"]
    assert [b["usable"] for b in res["backups"]] == [True, False]
    # the older backup still restores: the age check now judges it, not the one without data
    assert "the newest DONE backup B1" in res["checks"]["backup_age"]["message"]


def test_every_split_part_of_every_tar_present_and_not_empty():
    store = archive()
    for name in ("data_0001.tar.gz", "data_0002.tar.gz", "16385.tar.gz", "16385_0001.tar.gz"):
        store.put(PRE + "base/B1/" + name, b"part")
    info = store.objects[PRE + "base/B1/backup.info"][0].decode()
    store.put(PRE + "base/B1/backup.info", info + "tablespaces=[Tablespace(name='tbs', oid=16385, "
                                                  "location='/srv/tbs'), Tablespace(name='t2', oid=16390, "
                                                  "location='/srv/t2')]\n")
    res = run_checks(store, PRE, thresholds(), now=NOW)
    # B1 is not usable any more, so it no longer covers the retention window either
    assert res["failed_checks"] == ["base_backups", "retention"], res["checks"]
    assert "B1 (16390.tar missing under base/B1/ (tablespace t2))" in res["checks"]["base_backups"]["message"]
    store.put(PRE + "base/B1/16390.tar.gz", b"ts")
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == [], res["checks"]
    assert res["backups"][0]["data_files"] == 6 and res["backups"][0]["data_bytes"] == 3 + 4 * 4 + 2
    del store.objects[PRE + "base/B1/data_0001.tar.gz"]
    store.put(PRE + "base/B1/data.tar.gz", b"")
    res = run_checks(store, PRE, thresholds(), now=NOW)
    message = res["checks"]["base_backups"]["message"]
    assert "data_0001.tar missing under base/B1/ (data_0002.tar.gz is listed)" in message
    assert "data.tar.gz is empty (0 bytes)" in message
    assert res["backups"][0]["usable"] is False


def test_newest_backup_needs_its_wal_through_end_wal():
    store = FakeStore()
    # WAL archived up to segment 21, the newest backup ran from 20 to 23: it never reaches a consistent state
    fill(store, range(1, 22), [("B1", 2, 3, NOW - 3 * DAY, "DONE"), ("B2", 20, 23, NOW - DAY, "DONE")])
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["failed_checks"] == ["wal_continuity"], res["checks"]
    message = res["checks"]["wal_continuity"]["message"]
    assert ("the newest backup B2 needs WAL %s through its end_wal %s to reach a consistent state; not archived: "
            "%s..%s (2 segments)" % (segment_name(1, 20), segment_name(1, 23), segment_name(1, 22),
                                     segment_name(1, 23))) in message
    assert {"timeline": 1, "first": segment_name(1, 22), "last": segment_name(1, 23), "segments": 2} in res["gaps"]
    # its begin_wal missing as well (archiving started late): the same check names it
    store = FakeStore()
    fill(store, range(25, 40), [("B3", 24, 26, NOW - DAY, "DONE")])
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert "wal_continuity" in res["failed_checks"]
    assert "not archived: %s..%s (1 segments)" % (segment_name(1, 24), segment_name(1, 24)) in \
        res["checks"]["wal_continuity"]["message"]
    assert res["recovery_window"]["first"] is None


def test_encryption_the_server_reports_is_returned():
    store = FakeStore()
    fill(store, range(1, 40), [("B1", 2, 3, NOW - 3 * DAY, "DONE"), ("B2", 20, 21, NOW - DAY, "DONE")],
         encryption="AES256")
    res = run_checks(store, PRE, thresholds(), now=NOW, deep=False)
    assert res["encryption"] == {"backups": {"B1": "AES256", "B2": "AES256"}, "wal": "AES256",
                                 "wal_segment": segment_name(1, 39), "summary": "AES256"}
    assert [b["encryption"] for b in res["backups"]] == ["AES256", "AES256"]
    assert "server-side encryption AES256" in res["checks"]["archive"]["message"]
    # one HEAD for the newest WAL segment on top of the listing pages and the backup.info reads
    assert res["s3_requests"] == store.pages + 2 + 1
    name = segment_name(1, 39)
    store.put(PRE + "wals/%s/%s.gz" % (name[:16], name), b"x", NOW - datetime.timedelta(seconds=60))
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert res["encryption"]["wal"] == "none" and res["encryption"]["summary"] == "mixed"
    res = run_checks(archive(), PRE, thresholds(), now=NOW)
    assert res["encryption"]["summary"] == "none"
    assert "server-side encryption none" in res["checks"]["archive"]["message"]


def test_no_usable_backup_for_the_wal_start_names_the_cause():
    store = FakeStore()
    # timeline 2 only, with no history: no backup's timeline leads there
    fill(store, range(1, 10), [("B1", 2, 3, NOW - DAY, "DONE")])
    for segno in range(10, 12):
        name = segment_name(2, segno)
        store.put("%swals/%s/%s.gz" % (PRE, name[:16], name), b"x")
    res = run_checks(store, PRE, thresholds(), now=NOW)
    assert "wal_continuity" in res["failed_checks"]
    assert "00000002.history" in res["checks"]["wal_continuity"]["message"]
