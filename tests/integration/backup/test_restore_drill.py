"""The restore drill playbook, end to end: barman-cloud-restore + WAL replay into a scratch PostgreSQL 15."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import jsonschema
import yaml

from services.common import free_ports

from .conftest import BUCKET, DEST, SERVER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


WRAPPER = os.path.join(ROOT, "roles", "restore_drill", "files", "run_drill.py")


def playbook(extra, env=None, wrapper=False):
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), **(env or {}))
    cmd = [sys.executable, WRAPPER] if wrapper else ["ansible-playbook", "playbooks/restore_drill.yml"]
    return subprocess.run([*cmd, "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=600, check=False)


def _flat(res):
    return " ".join((res.stdout + res.stderr).split())


def _base(archive, tmp_path, **more):
    extra = {
        "restore_drill_destination_path": DEST, "restore_drill_server_name": SERVER,
        "restore_drill_endpoint_url": archive.s3.endpoint_url, "restore_drill_port": free_ports(1, low=34000, high=36000)[0],
        "restore_drill_database": "todos", "restore_drill_report_file": str(tmp_path / "drill.json"),
        "restore_drill_record": False,
    }
    extra.update(more)
    return extra


def _backup_ids(archive):
    keys = [o["Key"] for o in archive.s3.client().list_objects_v2(
        Bucket=BUCKET, Prefix="postgres-production/%s/base/" % SERVER).get("Contents", [])]
    return sorted({k.split("/")[3] for k in keys if k.endswith("/backup.info")})


def _scratch_servers():
    return "restore-drill-" in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout


def test_local_drill_restores_rows_and_reports_beyond_rpo(archive, tmp_path):
    report_file = tmp_path / "drill.json"
    port = free_ports(1, low=34000, high=36000)[0]
    extra = {
        "restore_drill_destination_path": DEST, "restore_drill_server_name": SERVER,
        "restore_drill_endpoint_url": archive.s3.endpoint_url, "restore_drill_port": port,
        "restore_drill_database": "todos", "restore_drill_report_file": str(report_file),
        "restore_drill_tables": [{"name": "todo", "time_column": "created"}],
        "restore_drill_source_dsn": "host=127.0.0.1 port=%d user=postgres dbname=todos" % archive.pg.port,
        "restore_drill_record": False,
        "restore_drill_checks": [
            {"name": "restored rows", "query": "SELECT count(*) FROM todo WHERE stage <> 'unarchived'",
             "expected": archive.rows["first_backup"] + archive.rows["before_backup"] + archive.rows["archived"]},
            {"name": "fresh", "query": "SELECT max(created) FROM todo", "max_age_seconds": 3600},
        ],
    }
    res = playbook(extra, env=archive.s3.env())
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert archive.s3.secret_key not in res.stdout
    report = json.loads(report_file.read_text())
    rto = float(report["rto_seconds"])
    assert 0 < rto < 600
    assert report["verdict"] == "passed" and report["target_time"] is None
    assert [(c["name"], c["status"]) for c in report["checks"]] == [("restored rows", "passed"), ("fresh", "passed")]
    assert report["backup"]["backup_id"] == _backup_ids(archive)[-1]
    assert report["backup"]["begin_wal"] and report["backup"]["end_wal"]
    print("restore drill RTO: %.2fs" % rto)
    table = report["tables"][0]
    # rows before the newest backup and rows in archived WAL after it are restored; unarchived ones are not
    expected = archive.rows["first_backup"] + archive.rows["before_backup"] + archive.rows["archived"]
    assert table["rows"] == expected
    recovered_to = datetime.datetime.fromisoformat(report["recovered_to"])
    assert recovered_to <= archive.last_archived_at
    beyond = report["beyond_rpo"][0]
    assert beyond["rows"] == archive.rows["unarchived"]
    assert {row["stage"] for row in beyond["sample"]} == {"unarchived"}
    # the scratch server is gone
    assert "restore-drill-" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout


def _stage_times(archive, stage):
    return archive.pg.execute("SELECT min(created), max(created) FROM todo WHERE stage = %s", (stage,),
                              dbname="todos")[0]


def test_pitr_drill_has_the_row_before_the_target_and_not_the_one_after(archive, tmp_path):
    """Target between the rows written after the first backup and the rows written after the second: the drill
    restores the first backup, replays the WAL up to the target (through the second backup) and stops there."""
    before = _stage_times(archive, "before_backup")
    after = _stage_times(archive, "archived")
    assert before[1] < after[0]
    target = before[1] + (after[0] - before[1]) / 2
    target_text = target.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    checks = [
        {"name": "row written before the target is there",
         "query": "SELECT count(*) FROM todo WHERE stage = 'before_backup'", "expected": archive.rows["before_backup"]},
        {"name": "row written after the target is absent",
         "query": "SELECT count(*) FROM todo WHERE stage = 'archived'", "expected": 0},
        {"name": "newest row", "query": "SELECT max(created) FROM todo", "max_age_seconds": 86400},
    ]
    first_backup = _backup_ids(archive)[0]
    extra = _base(archive, tmp_path, restore_drill_target_time=target_text, restore_drill_checks=checks,
                  restore_drill_max_backup_age="1d", restore_drill_backup_id=first_backup)
    res = playbook(extra, env=archive.s3.env(), wrapper=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert archive.s3.secret_key not in res.stdout + res.stderr
    report = json.loads((tmp_path / "drill.json").read_text())
    print("PITR drill report:\n" + json.dumps(report, indent=2))
    assert report["verdict"] == "passed", report
    assert [c["status"] for c in report["checks"]] == ["passed", "passed", "passed"]
    assert datetime.datetime.fromisoformat(report["target_time"]) == target
    # the rows written after the first backup came from WAL replay, which stopped at the target
    assert report["backup"]["backup_id"] == first_backup
    recovered_to = datetime.datetime.fromisoformat(report["recovered_to"])
    assert before[1] <= recovered_to <= target
    assert 0 < float(report["rto_seconds"]) < 600
    window = {k: datetime.datetime.fromisoformat(v) for k, v in report["recovery_window"].items()}
    assert window["first"] <= target <= window["last"]
    for key in ("drill_id", "backup", "target_time", "recovered_to", "rto_seconds", "checks", "verdict"):
        assert key in report
    # a check's output is hashed, never kept
    assert all("output_sha256" in c and "output" not in c for c in report["checks"])
    print("PITR drill RTO: %.2fs" % float(report["rto_seconds"]))
    assert not _scratch_servers()


def test_failing_checks_fail_the_drill_with_exit_1(archive, tmp_path):
    checks = [
        {"name": "ok", "query": "SELECT count(*) > 0 FROM todo", "expected": True},
        {"name": "wrong count", "query": "SELECT count(*) FROM todo", "expected": 999999},
        {"name": "too old", "query": "SELECT min(created) FROM todo", "max_age_seconds": 1},
        {"name": "write refused", "query": "CREATE TABLE drill_write (id int)", "expected": ""},
        {"name": "no such table", "query": "SELECT secret FROM missing_table", "expected": "x"},
    ]
    res = playbook(_base(archive, tmp_path, restore_drill_checks=checks), env=archive.s3.env(), wrapper=True)
    assert res.returncode == 1, res.stdout[-4000:] + res.stderr[-2000:]
    report = json.loads((tmp_path / "drill.json").read_text())
    assert report["verdict"] == "failed"
    status = {c["name"]: c for c in report["checks"]}
    assert [status[n]["status"] for n in ("ok", "wrong count", "too old", "write refused", "no such table")] == [
        "passed", "failed", "failed", "failed", "failed"]
    assert "differs from the expected value" in status["wrong count"]["message"]
    assert "beyond max_age_seconds" in status["too old"]["message"]
    assert "read-only transaction" in status["write refused"]["message"]
    assert "missing_table" in status["no such table"]["message"]
    # the outputs are not in the report nor in the run's output
    total = str(sum(archive.rows.values()))
    assert all(total != str(v) for c in report["checks"] for v in c.values())
    assert "restore drill failed" in _flat(res) and "wrong count" in _flat(res)
    assert not _scratch_servers()


def test_a_target_outside_the_window_fails_before_anything_starts(archive, tmp_path):
    extra = _base(archive, tmp_path, restore_drill_target_time="2001-01-01T00:00:00Z")
    res = playbook(extra, env=archive.s3.env(), wrapper=True)
    assert res.returncode == 2, res.stdout[-4000:] + res.stderr[-2000:]
    flat = _flat(res)
    assert "restore_drill_target_time 2001-01-01T00:00:00+00:00 is outside the recovery window" in flat
    report = json.loads((tmp_path / "drill.json").read_text())
    assert report["verdict"] == "error" and report["stage"] == "preflight"
    window = report["recovery_window"]
    assert "%s .. %s" % (window["first"], window["last"]) in flat
    assert "Restore the base backup" not in res.stdout      # nothing started


def test_max_backup_age_and_bad_input_fail_in_preflight_with_exit_2(archive, tmp_path):
    res = playbook(_base(archive, tmp_path, restore_drill_max_backup_age="1s"), env=archive.s3.env(), wrapper=True)
    assert res.returncode == 2, res.stdout[-4000:] + res.stderr[-2000:]
    assert "older than restore_drill_max_backup_age 1s" in _flat(res)
    assert "Restore the base backup" not in res.stdout
    bad = [{"name": "two", "query": "SELECT 1; DROP TABLE todo", "expected": 1},
           {"name": "neither", "query": "SELECT 1"}]
    res = playbook(_base(archive, tmp_path, restore_drill_checks=bad, restore_drill_target_time="yesterday"),
                   env=archive.s3.env(), wrapper=True)
    assert res.returncode == 2
    flat = _flat(res)
    assert "restore_drill_checks[0] (two): the query must be one statement" in flat
    assert "restore_drill_checks[1] (neither) needs exactly one of expected or max_age_seconds" in flat
    assert "restore_drill_target_time \"yesterday\" is not an RFC 3339 time" in flat


def test_cluster_recovery_manifest_is_valid(tmp_path):
    render = tmp_path / "render"
    extra = {"restore_drill_local": False, "restore_drill_cluster": True, "restore_drill_render_dir": str(render)}
    res = playbook(extra)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    docs = list(yaml.safe_load_all((render / "restore-drill" / "cluster.yaml").read_text()))
    cluster = [d for d in docs if d and d["kind"] == "Cluster"][0]
    assert cluster["spec"]["bootstrap"]["recovery"]["source"] == "origin"
    plugin = cluster["spec"]["externalClusters"][0]["plugin"]
    assert plugin == {"name": "barman-cloud.cloudnative-pg.io",
                      "parameters": {"barmanObjectName": "postgres-production-backup",
                                     "serverName": "postgres-production"}}
    crd_path = os.path.join(os.environ["SUPERTODO_SCHEMA_DIR"], "crds", "cloudnative-pg", "postgresql.cnpg.io_clusters.yaml")
    with open(crd_path, encoding="utf-8") as fh:
        crd = yaml.safe_load(fh)
    schema = [v for v in crd["spec"]["versions"] if v["name"] == "v1"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(cluster, schema)
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["bootstrap"]["recovery"]["source"] = 42
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the CRD schema accepted a non-string recovery source")


def test_cluster_manifest_sets_the_recovery_target_inside_the_window(archive, tmp_path):
    before, after = _stage_times(archive, "before_backup"), _stage_times(archive, "archived")
    target = (before[1] + (after[0] - before[1]) / 2).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    render = tmp_path / "render"
    extra = _base(archive, tmp_path, restore_drill_local=False, restore_drill_cluster=True,
                  restore_drill_render_dir=str(render), restore_drill_target_time=target)
    res = playbook(extra, env=archive.s3.env(), wrapper=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    cluster = yaml.safe_load((render / "restore-drill" / "cluster.yaml").read_text())
    assert cluster["spec"]["bootstrap"]["recovery"] == {"source": "origin", "recoveryTarget": {"targetTime": target}}
    # validated against the CloudNativePG CRD by the role; outside the window nothing is rendered
    outside = _base(archive, tmp_path, restore_drill_local=False, restore_drill_cluster=True,
                    restore_drill_render_dir=str(tmp_path / "outside"), restore_drill_target_time="2099-01-01T00:00:00Z")
    res = playbook(outside, env=archive.s3.env(), wrapper=True)
    assert res.returncode == 2
    assert "restore_drill_target_time 2099-01-01T00:00:00+00:00 is outside the recovery window" in _flat(res)
    assert not (tmp_path / "outside").exists()


def test_cluster_validation_rejects_an_invalid_cluster(tmp_path):
    extra = {"restore_drill_local": False, "restore_drill_cluster": True, "restore_drill_render_dir": str(tmp_path),
             "restore_drill_instances": 0}
    res = playbook(extra)
    assert res.returncode != 0
    assert "spec/instances" in res.stdout
