"""backup_verify and redis_backup_verify through main(): exit/fail JSON, check mode, argument errors."""

from __future__ import annotations

import datetime
import json
import os
import struct
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module_utils"))

from ansible_collections.supertodo.platform.plugins.module_utils.backup import rdb  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError  # noqa: E402
from ansible_collections.supertodo.platform.plugins.modules import backup_verify, redis_backup_verify  # noqa: E402
from backup_fakes import FakeStore, fill  # noqa: E402

ARGS = {"destination_path": "s3://super-todo-backups/pg", "server_name": "postgres-production",
        "aws_secret_key": "s3cr3t-value", "aws_access_key": "AK", "retention_window": ""}


def run(capsys, module, args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def store(monkeypatch):
    # Times relative to the moment the test runs, not to collection: the whole suite can take minutes, and an
    # archive stamped at import time would be older than the default rpo by then.
    now = datetime.datetime.now(datetime.timezone.utc)
    fake = FakeStore()
    fill(fake, range(1, 10), [("B1", 2, 3, now - datetime.timedelta(hours=1), "DONE")],
         prefix="pg/postgres-production/", newest_age=30)
    for key, (data, _mod) in list(fake.objects.items()):
        if "/wals/" in key:
            fake.objects[key] = (data, now - datetime.timedelta(seconds=30))
    monkeypatch.setattr(backup_verify, "ObjectStore", lambda bucket, params: fake)
    return fake


def test_healthy_check_mode(capsys, store):
    out = run(capsys, backup_verify, ARGS, check=True)
    assert out.get("failed") is not True, out
    assert out["changed"] is False and out["failed_checks"] == []
    assert "s3cr3t-value" not in json.dumps(out)


def test_failed_check_names_it(capsys, store):
    del store.objects["pg/postgres-production/wals/0000000100000000/000000010000000000000005.gz"]
    out = run(capsys, backup_verify, ARGS)
    assert out["failed"] is True
    assert "wal_continuity check failed" in out["msg"] and "000000010000000000000005" in out["msg"]
    assert out["gaps"][0]["segments"] == 1


def test_storage_error_is_a_clean_failure(capsys, monkeypatch):
    def broken(bucket, params):
        raise StorageError("storage: endpoint http://127.0.0.1:1 unreachable while listing")

    monkeypatch.setattr(backup_verify, "ObjectStore", broken)
    out = run(capsys, backup_verify, ARGS)
    assert out["failed"] is True and out["failed_checks"] == ["storage"]
    assert "storage check failed" in out["msg"] and "unreachable" in out["msg"]


def test_bad_duration_argument(capsys, store):
    out = run(capsys, backup_verify, dict(ARGS, rpo="soon"))
    assert out["failed"] is True and "rpo 'soon' is not a duration" in out["msg"]


def _rdb():
    body = b"REDIS0010\xfe\x00\xfb\x01\x00\x00\x01k\x01v\xff"
    return body + struct.pack("<Q", rdb.crc64(body))


def test_redis_module_ok_and_corrupt(capsys, tmp_path):
    (tmp_path / "dump.rdb").write_bytes(_rdb())
    out = run(capsys, redis_backup_verify, {"path": str(tmp_path)}, check=True)
    assert out.get("failed") is not True, out
    assert out["rdb"]["version"] == 10 and out["changed"] is False
    data = bytearray(_rdb())
    data[12] ^= 1
    (tmp_path / "dump.rdb").write_bytes(bytes(data))
    out = run(capsys, redis_backup_verify, {"path": str(tmp_path)})
    assert out["failed"] is True and "rdb check failed" in out["msg"] and "CRC64 mismatch" in out["msg"]


def test_redis_module_missing_path(capsys, tmp_path):
    out = run(capsys, redis_backup_verify, {"path": str(tmp_path / "nope")})
    assert out["failed"] is True and "does not exist" in out["msg"]
    out = run(capsys, redis_backup_verify, {"path": str(tmp_path)})
    assert out["failed"] is True and "no RDB or AOF manifest" in out["msg"]


@pytest.mark.parametrize("module", [backup_verify, redis_backup_verify])
def test_timeouts_must_be_positive_naming_the_option(capsys, module):
    args = dict(ARGS, endpoint_url="http://127.0.0.1:9", read_timeout=0) if module is backup_verify else \
        {"s3_path": "s3://super-todo-backups/redis", "endpoint_url": "http://127.0.0.1:9", "connect_timeout": -2}
    out = run(capsys, module, args)
    assert out["failed"] is True and out["failed_checks"] == ["arguments"]
    assert "arguments check failed: %s must be a positive number of seconds" % (
        "read_timeout" if module is backup_verify else "connect_timeout") in out["msg"]


def test_result_reports_data_objects_and_encryption(capsys, store):
    out = run(capsys, backup_verify, ARGS)
    assert out.get("failed") is not True, out
    assert out["backups"][0]["data_files"] == 1 and out["backups"][0]["encryption"] == "none"
    assert out["encryption"]["summary"] == "none" and out["encryption"]["wal"] == "none"
    del store.objects["pg/postgres-production/base/B1/data.tar.gz"]
    out = run(capsys, backup_verify, ARGS)
    assert out["failed"] is True and "base_backups check failed" in out["msg"]
    assert "B1 (data.tar missing under base/B1/)" in out["msg"]
