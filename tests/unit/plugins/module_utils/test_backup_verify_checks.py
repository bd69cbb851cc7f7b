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
    # pages of 3 keys: every page is one request, plus one read per backup.info
    assert res["s3_requests"] == store.pages + 2


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
