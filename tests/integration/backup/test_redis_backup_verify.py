"""redis_backup_verify against files written by a real redis-server 7 (RDB and multi-part AOF), local and on S3."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup.rdb import crc64
from ansible_collections.supertodo.platform.plugins.modules import redis_backup_verify
from services.common import wait_until
from services.redis import RedisServer

from .conftest import BUCKET


@pytest.fixture(scope="module")
def redis_dir(tmp_path_factory):
    """A Redis data dir with dump.rdb and appendonlydir/ (base + incr), copied after the server stopped."""
    server = RedisServer(appendonly=True).start()
    try:
        client = server.client()
        for i in range(500):
            client.set("todo:%d" % i, "label %d" % i)
        client.hset("h", mapping={"a": "1", "b": "2"})
        client.save()
        client.bgrewriteaof()
        wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0
                   and client.info("persistence")["aof_rewrite_scheduled"] == 0, 30, "AOF rewrite")
        for i in range(50):
            client.rpush("list", "item %d" % i)
        client.execute_command("CONFIG", "SET", "appendfsync", "always")
        client.set("last", "x")
        copy = tmp_path_factory.mktemp("redis-copy")
        shutil.copy(server.rdb_path, copy / "dump.rdb")
        shutil.copytree(server.aof_dir, copy / "appendonlydir")
    finally:
        server.cleanup()
    return copy


def params(**over):
    out = {"path": None, "s3_path": None, "max_age": "1h", "endpoint_url": None, "aws_access_key": None,
           "aws_secret_key": None, "session_token": None, "region": None, "validate_certs": True,
           "connect_timeout": 2.0}
    out.update(over)
    return out


def test_crc64_jones_check_value():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"456789", crc64(b"123")) == 0xE9C6D914C4B8D9CA


def test_real_rdb_and_aof_pass(redis_dir):
    res = redis_backup_verify.verify(params(path=str(redis_dir)))
    assert res["failed_checks"] == [], res["checks"]
    assert res["rdb"]["version"] >= 10 and res["rdb"]["redis_version"].startswith("7.")
    assert not res["rdb"]["checksum_disabled"]
    kinds = [(f["type"], f["format"]) for f in res["aof"]]
    assert ("base", "rdb") in kinds and ("incr", "aof") in kinds
    assert sum(f.get("commands", 0) for f in res["aof"]) >= 51
    assert 0 <= res["snapshot_age_seconds"] < 600


def test_flipped_byte_fails_checksum(redis_dir, tmp_path):
    data = bytearray((redis_dir / "dump.rdb").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "dump.rdb").write_bytes(bytes(data))
    res = redis_backup_verify.verify(params(path=str(tmp_path / "dump.rdb")))
    assert res["failed_checks"] == ["rdb"]
    assert "CRC64 mismatch" in res["checks"]["rdb"]["message"]


def test_truncated_aof_fails(redis_dir, tmp_path):
    shutil.copytree(redis_dir / "appendonlydir", tmp_path / "appendonlydir")
    incr = [n for n in os.listdir(tmp_path / "appendonlydir") if n.endswith(".incr.aof")][0]
    target = tmp_path / "appendonlydir" / incr
    data = target.read_bytes()
    target.write_bytes(data[:-7])
    res = redis_backup_verify.verify(params(path=str(tmp_path)))
    assert res["failed_checks"] == ["aof"]
    assert "truncated" in res["checks"]["aof"]["message"]


def test_missing_aof_file_fails(redis_dir, tmp_path):
    shutil.copytree(redis_dir / "appendonlydir", tmp_path / "appendonlydir")
    base = [n for n in os.listdir(tmp_path / "appendonlydir") if ".base." in n][0]
    os.remove(tmp_path / "appendonlydir" / base)
    res = redis_backup_verify.verify(params(path=str(tmp_path)))
    assert res["failed_checks"] == ["aof"] and "missing" in res["checks"]["aof"]["message"]


def test_stale_snapshot_fails_age(redis_dir):
    res = redis_backup_verify.verify(params(path=str(redis_dir), max_age="0s"))
    assert res["failed_checks"] == ["snapshot_age"]


def test_rdb_and_aof_on_s3(redis_dir, s3):
    client = s3.client()
    for root, _dirs, files in os.walk(redis_dir):
        for name in files:
            full = os.path.join(root, name)
            client.upload_file(full, BUCKET, "redis-production/node-0/" + os.path.relpath(full, redis_dir))
    res = redis_backup_verify.verify(params(s3_path="s3://%s/redis-production/node-0" % BUCKET,
                                            endpoint_url=s3.endpoint_url, aws_access_key=s3.access_key,
                                            aws_secret_key=s3.secret_key))
    assert res["failed_checks"] == [], res["checks"]
    assert res["rdb"]["file"].startswith("s3://")
