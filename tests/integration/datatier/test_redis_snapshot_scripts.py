# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two scripts of the Redis snapshot CronJob (roles/backups/files/) against real servers.

A password-protected redis-server on loopback (Debian's Redis 7), real redis-cli, a SeaweedFS S3 gateway and the
AWS CLI: the dump script fetches an RDB per node, the upload script copies it under <destination>/<node>/ and
prunes to the newest N, and supertodo.platform.redis_backup_verify accepts what was uploaded (RDB header, version,
CRC64, age). A corrupted copy is refused, so the check can fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from services.redis import RedisServer
from services.seaweedfs import SeaweedS3

REPO = Path(__file__).resolve().parents[3]
FILES = REPO / "roles" / "backups" / "files"
BUCKET = "super-todo-backups"
DEST = "s3://%s/redis-production" % BUCKET


def _path_env():
    return "%s:%s" % (REPO / ".venv" / "bin", os.environ.get("PATH", ""))


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def redis_node():
    server = RedisServer().start()
    password = secrets.token_hex(16)
    client = server.client()
    for i in range(500):
        client.set("todo:%d" % i, "label %d" % i)
    client.config_set("requirepass", password)
    yield server, password
    server.cleanup()


def run_script(name, env, timeout=120):
    full = {"PATH": _path_env(), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    full.update(env)
    return subprocess.run(["/bin/sh", str(FILES / name)], env=full, capture_output=True, text=True,
                          timeout=timeout, check=False)


def verify(s3, s3_path):
    """Run the redis_backup_verify module (ad hoc, JSON callback) on an S3 prefix; returns its result."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=_path_env(),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", **s3.env())
    proc = subprocess.run(
        ["ansible", "localhost", "-m", "supertodo.platform.redis_backup_verify",
         "-a", "s3_path=%s endpoint_url=%s max_age=1h" % (s3_path, s3.endpoint_url)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_dump_upload_prune_and_verify(tmp_path, s3, redis_node):
    server, password = redis_node
    scratch = tmp_path / "snapshots"
    # the dump script needs the password: without it redis-cli is refused
    proc = run_script("redis-snapshot-dump.sh", {"REDIS_TARGETS": "127.0.0.1", "REDIS_HEADLESS": "",
                                                 "REDIS_PORT": str(server.port), "SNAPSHOT_DIR": str(scratch)})
    assert proc.returncode != 0
    shutil.rmtree(scratch, ignore_errors=True)
    proc = run_script("redis-snapshot-dump.sh", {"REDIS_TARGETS": "127.0.0.1", "REDIS_HEADLESS": "",
                                                 "REDIS_PORT": str(server.port), "REDISCLI_AUTH": password,
                                                 "SNAPSHOT_DIR": str(scratch)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rdb = scratch / "127.0.0.1" / "dump.rdb"
    data = rdb.read_bytes()
    assert data[:5] == b"REDIS" and b"todo:499" in data
    assert password not in proc.stdout + proc.stderr

    # older snapshots already there: the upload keeps the newest 3 of this node, and leaves other nodes alone
    client = s3.client()
    for day in range(1, 6):
        client.put_object(Bucket=BUCKET, Key="redis-production/127.0.0.1/dump-2026010%dT033000Z.rdb" % day, Body=data)
    client.put_object(Bucket=BUCKET, Key="redis-production/other-node/dump-20260101T033000Z.rdb", Body=data)
    env = {"DESTINATION": DEST, "SNAPSHOT_KEEP": "3", "S3_ENDPOINT_URL": s3.endpoint_url,
           "SNAPSHOT_DIR": str(scratch), "HOME": str(tmp_path)}
    env.update(s3.env())
    proc = run_script("redis-snapshot-upload.sh", env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 snapshots before pruning, keeping 3" in proc.stdout
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="redis-production/127.0.0.1/")["Contents"])
    assert len(keys) == 3
    assert keys[:2] == ["redis-production/127.0.0.1/dump-20260104T033000Z.rdb",
                        "redis-production/127.0.0.1/dump-20260105T033000Z.rdb"]
    assert keys[2] > keys[1] and keys[2].endswith("Z.rdb")
    assert client.get_object(Bucket=BUCKET, Key=keys[2])["Body"].read() == data
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="redis-production/other-node/")["KeyCount"] == 1
    assert s3.secret_key not in proc.stdout + proc.stderr

    # what backup_verify checks later: the newest snapshot of the node is a valid, fresh RDB
    result = verify(s3, "%s/127.0.0.1" % DEST)
    assert not result.get("failed"), result
    assert result["checks"]["rdb"]["status"] == "ok"
    assert result["rdb"]["file"].endswith(keys[2].rsplit("/", 1)[-1])

    # a corrupted newest copy is refused
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    client.put_object(Bucket=BUCKET, Key="redis-production/127.0.0.1/dump-20991231T000000Z.rdb", Body=bytes(broken))
    result = verify(s3, "%s/127.0.0.1" % DEST)
    assert result.get("failed") and "rdb" in result["failed_checks"]
