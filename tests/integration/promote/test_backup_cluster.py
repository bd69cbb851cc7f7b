# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/backup.yml on the local cluster: a real Backup object completed by the CloudNativePG Backup double
(tools/localkube/cnpgdouble.py) with a real barman-cloud-backup of a real PostgreSQL into a real SeaweedFS, then
backup_verify reads that archive. Staging is refused; a Backup that fails fails the run with its own error."""

from __future__ import annotations

import pytest

from localkube.cnpgdouble import BackupDouble
from services.postgres import PostgresServer
from services.seaweedfs import SeaweedS3

from promote.test_promote_cluster import BUCKET, DEST, SERVER, Run, _flat, _ok

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def pg(s3):
    server = PostgresServer(archive=(DEST, SERVER, s3.endpoint_url, s3.env()), compression="gzip").init().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def run(kube, s3, pg, tmp_path_factory):
    runner = Run(kube, s3, tmp_path_factory.mktemp("verify"))
    if kube.kubectl("get", "namespace", "flux-system").returncode != 0:
        assert kube.kubectl("create", "namespace", "flux-system").returncode == 0
    # production's ObjectStore and backup Secret now point at this S3 server
    _ok(runner.playbook("production", "playbooks/site.yml"))
    double = BackupDouble(kube.kubeconfig, "production", pg.pg_env()).start()
    yield runner
    double.stop()
    kube.kubectl("-n", "production", "delete", "backups.postgresql.cnpg.io", "-l",
                 "app.kubernetes.io/managed-by=supertodo.platform", "--ignore-not-found")


def _backups(run, ns):
    return run.get("-n", ns, "get", "backups.postgresql.cnpg.io")["items"]


def test_staging_is_refused_before_anything_is_created(run):
    proc = run.playbook("staging", "playbooks/backup.yml")
    assert proc.returncode != 0
    assert "staging has no backups to take (backups_enabled is False" in _flat(proc)
    assert _backups(run, "staging") == []


def _new_backups(run, before):
    return [b for b in _backups(run, "production") if b["metadata"]["name"] not in before]


def test_on_demand_backup_completes_and_is_in_the_archive(run, s3):
    before = {b["metadata"]["name"] for b in _backups(run, "production")}
    proc = _ok(run.playbook("production", "playbooks/backup.yml"))
    done = [b for b in _new_backups(run, before) if b["status"].get("phase") == "completed"]
    assert len(done) == 1
    backup = done[0]
    assert backup["metadata"]["name"].startswith("postgres-production-ondemand-")
    assert backup["spec"]["method"] == "plugin"
    assert backup["spec"]["pluginConfiguration"]["name"] == "barman-cloud.cloudnative-pg.io"
    assert backup["spec"]["cluster"]["name"] == SERVER
    backup_id = backup["status"]["backupId"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix="postgres-production/%s/base/%s/"
                                                          % (SERVER, backup_id)).get("Contents", [])]
    assert any(k.endswith("backup.info") for k in keys), keys
    flat = _flat(proc)
    assert "backupId %s is in the archive" % backup_id in flat
    assert s3.secret_key not in proc.stdout + proc.stderr


def test_a_failed_backup_fails_the_run_with_its_own_error(run, pg):
    before = {b["metadata"]["name"] for b in _backups(run, "production")}
    pg.stop()       # the instance is gone: barman-cloud-backup cannot connect
    proc = run.playbook("production", "playbooks/backup.yml", "-e", "backup_now_timeout=120")
    assert proc.returncode != 0
    failed = [b for b in _new_backups(run, before) if b["status"].get("phase") == "failed"]
    assert len(failed) == 1
    error = failed[0]["status"]["error"]
    assert error.startswith("barman-cloud-backup exited with")
    assert "Backup production/%s failed: barman-cloud-backup exited with" % failed[0]["metadata"]["name"] in _flat(proc)
