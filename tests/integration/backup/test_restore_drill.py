"""The restore drill playbook, end to end: barman-cloud-restore + WAL replay into a scratch PostgreSQL 15."""

from __future__ import annotations

import datetime
import json
import os
import subprocess

import jsonschema
import yaml

from services.common import free_ports

from .conftest import DEST, SERVER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def playbook(extra, env=None):
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), **(env or {}))
    return subprocess.run(["ansible-playbook", "playbooks/restore_drill.yml", "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=600, check=False)


def test_local_drill_restores_rows_and_reports_beyond_rpo(archive, tmp_path):
    report_file = tmp_path / "drill.json"
    port = free_ports(1, low=34000, high=36000)[0]
    extra = {
        "restore_drill_destination_path": DEST, "restore_drill_server_name": SERVER,
        "restore_drill_endpoint_url": archive.s3.endpoint_url, "restore_drill_port": port,
        "restore_drill_database": "todos", "restore_drill_report_file": str(report_file),
        "restore_drill_tables": [{"name": "todo", "time_column": "created"}],
        "restore_drill_source_dsn": "host=127.0.0.1 port=%d user=postgres dbname=todos" % archive.pg.port,
    }
    res = playbook(extra, env=archive.s3.env())
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert archive.s3.secret_key not in res.stdout
    report = json.loads(report_file.read_text())
    rto = float(report["rto_seconds"])
    assert 0 < rto < 600
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


def test_cluster_validation_rejects_an_invalid_cluster(tmp_path):
    extra = {"restore_drill_local": False, "restore_drill_cluster": True, "restore_drill_render_dir": str(tmp_path),
             "restore_drill_instances": 0}
    res = playbook(extra)
    assert res.returncode != 0
    assert "spec/instances" in res.stdout
