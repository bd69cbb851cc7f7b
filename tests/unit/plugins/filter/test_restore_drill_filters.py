# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore drill's plan, check verdicts and records (plugins/filter/restore_drill.py) and promote's restore
drill gate (plugins/filter/promote.py). The real drill runs in tests/integration/backup/test_restore_drill.py."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

FILTERS = Path(__file__).resolve().parents[4] / "plugins" / "filter"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, FILTERS / ("%s.py" % name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


drill = _load("restore_drill")
promote = _load("promote")

NOW = "2026-12-01T12:00:00+00:00"
VERIFY = {
    "recovery_window": {"first": "2026-12-01T08:00:00+00:00", "last": "2026-12-01T11:59:00+00:00"},
    "backups": [
        {"backup_id": "20261201T075900", "usable": True, "begin_time": "2026-12-01T07:59:00+00:00",
         "end_time": "2026-12-01T08:00:00+00:00", "begin_wal": "000000010000000000000002",
         "end_wal": "000000010000000000000002", "timeline": 1},
        {"backup_id": "20261201T095900", "usable": False, "end_time": "2026-12-01T10:00:00+00:00"},
        {"backup_id": "20261201T105900", "usable": True, "begin_time": "2026-12-01T10:59:00+00:00",
         "end_time": "2026-12-01T11:00:00+00:00", "begin_wal": "000000010000000000000009",
         "end_wal": "00000001000000000000000A", "timeline": 1},
    ],
}


def test_plan_latest_and_pitr_choose_the_newest_backup_before_the_target():
    assert drill.plan(VERIFY, now=NOW)["backup"]["backup_id"] == "20261201T105900"
    plan = drill.plan(VERIFY, target_time="2026-12-01T10:30:00Z", now=NOW)
    assert plan["problems"] == [] and plan["backup"]["backup_id"] == "20261201T075900"
    assert plan["target_time"] == "2026-12-01T10:30:00+00:00"
    assert plan["backup_age_seconds"] == 4 * 3600


def test_plan_refuses_a_target_outside_the_window_naming_it():
    for target in ("2026-12-01T07:00:00Z", "2026-12-01T11:59:30Z"):
        problems = drill.plan(VERIFY, target_time=target, now=NOW)["problems"]
        assert problems == ["restore_drill_target_time %s is outside the recovery window 2026-12-01T08:00:00+00:00 .. "
                            "2026-12-01T11:59:00+00:00" % target.replace("Z", "+00:00")]
    assert "not an RFC 3339 time" in drill.plan(VERIFY, target_time="2026-12-01 10:00", now=NOW)["problems"][0]


def test_plan_backup_age_and_unknown_backup():
    problems = drill.plan(VERIFY, max_backup_age="30m", now=NOW)["problems"]
    assert problems == ["backup 20261201T105900 ended at 2026-12-01T11:00:00+00:00, 60m ago, older than "
                        "restore_drill_max_backup_age 30m"]
    assert drill.plan(VERIFY, max_backup_age="2h", now=NOW)["problems"] == []
    assert "is not a usable backup" in drill.plan(VERIFY, backup_id="20261201T095900", now=NOW)["problems"][0]
    late = drill.plan(VERIFY, backup_id="20261201T105900", target_time="2026-12-01T09:00:00Z", now=NOW)
    assert "after restore_drill_target_time" in late["problems"][0]
    assert "not a duration" in drill.plan(VERIFY, max_backup_age="soon", now=NOW)["problems"][0]
    assert drill.plan({"backups": [], "recovery_window": {}}, now=NOW)["problems"] == [
        "no usable (DONE) backup in the archive: nothing to restore"]


def test_check_problems_name_each_check():
    assert drill.check_problems([{"name": "a", "query": "SELECT 1;", "expected": 1}]) == []
    problems = drill.check_problems([{"name": "a", "query": "SELECT 1; DELETE FROM t", "expected": 1},
                                     {"query": "SELECT 1", "max_age_seconds": -1},
                                     {"name": "a", "query": "", "expected": 1, "max_age_seconds": 5, "x": 1}])
    assert "restore_drill_checks[0] (a): the query must be one statement (no ';' inside)" in problems
    assert "restore_drill_checks[1] needs a name" in problems
    assert "restore_drill_checks[1]: max_age_seconds must be a positive number (got -1)" in problems
    assert "restore_drill_checks[2] (a): the name is used twice" in problems
    assert "restore_drill_checks[2] (a) needs exactly one of expected or max_age_seconds" in problems
    assert "restore_drill_checks[2] (a): unknown keys x (allowed: name, query, database, expected, max_age_seconds)" \
        in problems


def test_evaluate_hashes_the_output_and_judges_it():
    ok = drill.evaluate({"name": "n", "expected": 42}, 0, "42\n")
    assert ok["status"] == "passed" and ok["output_sha256"] == hashlib.sha256(b"42").hexdigest()
    bad = drill.evaluate({"name": "n", "expected": "secret-value"}, 0, "other-secret\n")
    assert bad["status"] == "failed" and "other-secret" not in json.dumps(bad) and "secret-value" not in json.dumps(bad)
    assert drill.evaluate({"name": "b", "expected": True}, 0, "t")["status"] == "passed"
    fresh = drill.evaluate({"name": "t", "max_age_seconds": 60}, 0, "2026-12-01 11:59:30+00", now=NOW)
    assert fresh["status"] == "passed" and fresh["age_seconds"] == 30
    stale = drill.evaluate({"name": "t", "max_age_seconds": 10}, 0, "2026-12-01 11:59:30+00", now=NOW)
    assert stale["status"] == "failed" and "beyond max_age_seconds 10" in stale["message"]
    assert drill.evaluate({"name": "t", "max_age_seconds": 10}, 0, "hello", now=NOW)["status"] == "failed"
    err = drill.evaluate({"name": "w", "expected": ""}, 1, "", "ERROR:  cannot execute CREATE TABLE in a read-only "
                         "transaction\n")
    assert err["status"] == "failed" and "read-only transaction" in err["message"]


def test_record_leaves_the_live_sample_out():
    report = {"beyond_rpo": [{"table": "todo", "rows": 3, "sample": [{"label": "x"}]}]}
    assert drill.record(report) == {"beyond_rpo": [{"table": "todo", "rows": 3}]}
    assert report["beyond_rpo"][0]["sample"]


def _cm(*records):
    return {"data": {"history": json.dumps(list(records))}}


def _rec(verdict, finished, dest="s3://b/p", server="pg-prod", drill_id="d1"):
    return {"drill_id": drill_id, "verdict": verdict, "finished_at": finished, "rto_seconds": 12.5,
            "archive": {"destination_path": dest, "server_name": server}, "backup": {"backup_id": "B1"}}


def test_drill_gate():
    gate = promote.drill_gate({}, "s3://b/p", "pg-prod", "7d", "ConfigMap production/x", now=NOW)
    assert gate["status"] == "failed"
    assert gate["message"].startswith("no restore drill of s3://b/p/pg-prod is recorded in ConfigMap production/x")
    ok = promote.drill_gate(_cm(_rec("passed", "2026-12-01T10:00:00Z")), "s3://b/p", "pg-prod", "7d", now=NOW)
    assert ok["status"] == "passed"
    assert ok["message"] == ("last passed: passed drill d1 of backup B1 at 2026-12-01T10:00:00Z, 2.0h ago, RTO 12.5s, "
                             "within promote_max_drill_age 7d")
    old = promote.drill_gate(_cm(_rec("passed", "2026-11-20T10:00:00Z")), "s3://b/p", "pg-prod", "7d", now=NOW)
    assert old["status"] == "failed" and "older than promote_max_drill_age 7d" in old["message"]
    assert "11.1d ago" in old["message"]
    failed_last = promote.drill_gate(_cm(_rec("failed", "2026-12-01T11:00:00Z", drill_id="d2"),
                                         _rec("passed", "2026-12-01T10:00:00Z")), "s3://b/p", "pg-prod", "1d", now=NOW)
    assert failed_last["status"] == "passed" and "(a later drill: failed drill d2" in failed_last["message"]
    only_failed = promote.drill_gate(_cm(_rec("failed", "2026-12-01T11:00:00Z", drill_id="d2")), "s3://b/p",
                                     "pg-prod", "1d", now=NOW)
    assert only_failed["status"] == "failed" and "last: failed drill d2" in only_failed["message"]
    other = promote.drill_gate(_cm(_rec("passed", "2026-12-01T10:00:00Z", server="pg-staging")), "s3://b/p",
                               "pg-prod", "7d", now=NOW)
    assert other["status"] == "failed" and "no restore drill of s3://b/p/pg-prod" in other["message"]
