"""Real servers for the backup tests: one SeaweedFS S3 and one PostgreSQL 15 (archiving with
barman-cloud-wal-archive) per module, a two-backup archive made with barman-cloud-backup."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time

import pytest

from services.postgres import PostgresServer
from services.seaweedfs import SeaweedS3

BUCKET = "super-todo-backups"
SERVER = "postgres-production"
DEST = "s3://%s/postgres-production" % BUCKET


@pytest.fixture(scope="session")
def s3():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    yield server
    server.cleanup()


def barman(cmd, s3, pg=None, *args):
    env = dict(os.environ, **s3.env())
    if pg is not None:
        env.update(pg.pg_env())
    res = subprocess.run([cmd, "--endpoint-url", s3.endpoint_url, *args], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, "%s failed: %s %s" % (cmd, res.stdout, res.stderr)
    return res


class Archive:
    """The archive and what was written when, for the assertions."""

    def __init__(self, s3, pg):
        self.s3 = s3
        self.pg = pg
        self.rows = {}


@pytest.fixture(scope="session")
def archive(s3):
    """PostgreSQL archiving to s3://super-todo-backups/postgres-production/postgres-production, two base backups.

    Rows: ``before_backup`` (before the newest backup), ``archived`` (after it, in an archived segment) and
    ``unarchived`` (written last, never archived: beyond the RPO).
    """
    pg = PostgresServer(archive=(DEST, SERVER, s3.endpoint_url, s3.env()), compression="gzip").init().start()
    arc = Archive(s3, pg)
    try:
        pg.execute("CREATE DATABASE todos")
        pg.execute("CREATE TABLE todo (id serial PRIMARY KEY, label text, stage text, "
                   "created timestamptz NOT NULL DEFAULT clock_timestamp())", dbname="todos")

        def write(stage, n):
            pg.execute("INSERT INTO todo (label, stage) SELECT %s || g, %s FROM generate_series(1, %s) g",
                       (stage + "-", stage, n), dbname="todos")
            arc.rows[stage] = n

        write("first_backup", 5)
        pg.switch_wal()
        barman("barman-cloud-backup", s3, pg, "--immediate-checkpoint", DEST, SERVER)
        pg.switch_wal()
        write("before_backup", 7)
        pg.switch_wal()
        barman("barman-cloud-backup", s3, pg, "--immediate-checkpoint", DEST, SERVER)
        write("archived", 11)
        pg.switch_wal()
        arc.last_archived_at = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.1)  # the unarchived rows must be strictly later than the archived ones' commit time
        write("unarchived", 3)
        yield arc
    finally:
        pg.cleanup()


def copy_prefix(s3, src_server, dst_server, prefix="postgres-production"):
    """Copy an archive to another server name (so a test can damage its own copy)."""
    client = s3.client()
    src = "%s/%s/" % (prefix, src_server)
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=src):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    for key in keys:
        client.copy_object(Bucket=BUCKET, Key="%s/%s/%s" % (prefix, dst_server, key[len(src):]),
                           CopySource={"Bucket": BUCKET, "Key": key})
    return keys


def record(request, fault, expected, seen, seconds=None):
    """Append what a test saw to ``$SUPERTODO_RELIABILITY_RECORD`` (JSON lines) when set, as the reliability suite
    does: the source of the "seen" column of docs/reliability.md."""
    target = os.environ.get("SUPERTODO_RELIABILITY_RECORD")
    if not target:
        return
    entry = {"node": request.node.nodeid, "fault": fault, "expected": expected, "seen": seen,
             "seconds": round(seconds, 1) if seconds is not None else None}
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
