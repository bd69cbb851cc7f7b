"""A real timeline switch: a copy of the archive is restored with barman-cloud-restore, replayed with
barman-cloud-wal-restore, promoted (timeline 2) and archives into the copy; backup_verify follows 00000002.history."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid

from ansible_collections.supertodo.platform.plugins.modules import backup_verify
from services.common import wait_until
from services.postgres import PostgresServer, barman_wrapper, chown_to_pg

from .conftest import BUCKET, DEST, SERVER, copy_prefix
from .test_backup_verify import params


def test_timeline_switch_is_followed(archive):
    s3 = archive.s3
    name = "timeline-" + uuid.uuid4().hex[:6]
    copy_prefix(s3, SERVER, name)
    work = tempfile.mkdtemp(prefix="pg15-tl-")
    os.chmod(work, 0o755)
    pgdata = os.path.join(work, "data")
    env = dict(os.environ, **s3.env())
    res = subprocess.run(["barman-cloud-restore", "--endpoint-url", s3.endpoint_url, DEST, name, "latest", pgdata],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    server = PostgresServer(archive=(DEST, name, s3.endpoint_url, s3.env()), compression="gzip", workdir=work,
                            pgdata=pgdata)
    try:
        server.init()
        restore = barman_wrapper(os.path.join(work, "wal-restore.sh"), "cloud_walrestore", s3.env())
        with open(os.path.join(pgdata, "postgresql.auto.conf"), "a", encoding="utf-8") as fh:
            fh.write("restore_command = '%s --endpoint-url %s %s %s %%f %%p'\n" % (restore, s3.endpoint_url, DEST,
                                                                                   name))
            fh.write("recovery_target_action = 'promote'\n")
        open(os.path.join(pgdata, "recovery.signal"), "w", encoding="utf-8").close()
        os.chmod(pgdata, 0o700)
        chown_to_pg(work)
        server.start(timeout=180)
        wait_until(lambda: server.execute("SELECT NOT pg_is_in_recovery()")[0][0], 180, "promotion")
        assert server.execute("SELECT timeline_id FROM pg_control_checkpoint()")[0][0] >= 1
        server.execute("INSERT INTO todo (label, stage) VALUES ('after-promotion', 'tl2')", dbname="todos")
        server.switch_wal()
        history = "postgres-production/%s/wals/00000002.history" % name
        wait_until(lambda: s3.client().list_objects_v2(Bucket=BUCKET, Prefix=history)["KeyCount"] > 0, 60,
                   "00000002.history archived")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    res = backup_verify.verify(params(s3, server_name=name))
    assert res["failed_checks"] == [], res["checks"]
    assert res["newest_wal"].startswith("00000002")
    assert "timelines 1 -> 2" in res["checks"]["wal_continuity"]["message"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix=history)["Contents"]]
    for key in keys:
        s3.client().delete_object(Bucket=BUCKET, Key=key)
    res = backup_verify.verify(params(s3, server_name=name))
    assert res["failed_checks"] == ["wal_continuity"]
    assert "00000002.history" in res["checks"]["wal_continuity"]["message"]
