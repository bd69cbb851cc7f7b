"""backup_verify against a real barman-cloud archive on SeaweedFS, healthy and with each fault."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError
from ansible_collections.supertodo.platform.plugins.modules import backup_verify
from services.common import wait_until
from services.seaweedfs import SeaweedS3

from .conftest import BUCKET, DEST, SERVER, copy_prefix, record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def params(s3, **over):
    out = {
        "destination_path": DEST, "server_name": SERVER, "endpoint_url": s3.endpoint_url,
        "aws_access_key": s3.access_key, "aws_secret_key": s3.secret_key, "region": "us-east-1",
        "validate_certs": True, "connect_timeout": 2.0, "read_timeout": 30.0, "session_token": None,
        "max_backup_age": "1h", "retention_window": None, "retention_tolerance": "1d", "rpo": "1h",
        "min_backups": 2, "deep": False, "cluster": None,
    }
    out.update(over)
    return out


def damaged_copy(s3):
    name = "copy-" + uuid.uuid4().hex[:8]
    copy_prefix(s3, SERVER, name)
    return name, "postgres-production/%s/" % name


def keys(s3, prefix):
    client = s3.client()
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_healthy_archive_passes_every_check(archive):
    res = backup_verify.verify(params(archive.s3, deep=True))
    assert res["failed_checks"] == [], res["checks"]
    assert [b["status"] for b in res["backups"]] == ["DONE", "DONE"]
    assert res["segments"] >= 5
    assert res["gaps"] == []
    assert res["checks"]["deep"]["status"] == "ok" and res["checks"]["deep"]["members"] > 100
    assert res["recovery_window"]["first"] is not None and res["recovery_window"]["last"] is not None
    assert 0 <= res["rpo_seconds"] < 600
    # one listing page for this small archive + one read per backup.info + the HEAD of the newest WAL + the deep read
    assert res["s3_requests"] <= 1 + 2 + 1 + 1 + 1
    # every DONE backup's data tar is listed with its size
    assert all(b["data_files"] >= 1 and b["data_bytes"] > 0 for b in res["backups"])
    # the fixture archives without server-side encryption, and SeaweedFS says so
    assert res["encryption"]["summary"] == "none"
    assert res["checks"]["deep"]["encryption"] == {os.path.basename(k): "none" for k in keys(
        archive.s3, "postgres-production/%s/base/%s/" % (SERVER, res["backups"][-1]["backup_id"])) if ".tar" in k}


def test_retention_window_covered_then_not_enforcing(archive):
    ok = backup_verify.verify(params(archive.s3, retention_window="1s", retention_tolerance="1d"))
    assert ok["checks"]["retention"]["status"] == "ok", ok["checks"]["retention"]
    bad = backup_verify.verify(params(archive.s3, retention_window="1s", retention_tolerance="0s"))
    assert bad["failed_checks"] == ["retention"]
    assert "not enforcing" in bad["checks"]["retention"]["message"]
    young = backup_verify.verify(params(archive.s3, retention_window="7d"))
    assert young["failed_checks"] == ["retention"] and "not covered" in young["checks"]["retention"]["message"]


def test_deleted_wal_segment_is_a_gap(archive):
    name, prefix = damaged_copy(archive.s3)
    segments = sorted(k for k in keys(archive.s3, prefix + "wals/") if k.endswith(".gz") and ".backup" not in k)
    victim = segments[len(segments) // 2]
    archive.s3.client().delete_object(Bucket=BUCKET, Key=victim)
    res = backup_verify.verify(params(archive.s3, server_name=name))
    assert res["failed_checks"] == ["wal_continuity"], res["checks"]
    missing = os.path.basename(victim)[:-3]
    assert res["gaps"][0]["first"] == missing and res["gaps"][0]["segments"] == 1
    assert missing in res["checks"]["wal_continuity"]["message"]


def test_newest_backup_failed(archive):
    name, prefix = damaged_copy(archive.s3)
    client = archive.s3.client()
    info_key = sorted(k for k in keys(archive.s3, prefix + "base/") if k.endswith("backup.info"))[-1]
    text = client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read().decode()
    newer = "29991231T000000"
    text = text.replace("status=DONE", "status=FAILED").replace("error=None", "error=failure uploading data")
    text = text.replace("begin_time=", "begin_time=2999-12-31 00:00:00+00:00\nold_begin_time=", 1)
    client.put_object(Bucket=BUCKET, Key=prefix + "base/%s/backup.info" % newer, Body=text.encode())
    res = backup_verify.verify(params(archive.s3, server_name=name))
    assert res["failed_checks"] == ["base_backups"], res["checks"]
    assert "newest backup %s is FAILED" % newer in res["checks"]["base_backups"]["message"]


def test_stale_newest_backup(archive):
    fresh = backup_verify.verify(params(archive.s3))
    age = fresh["newest_backup_age_seconds"]
    res = backup_verify.verify(params(archive.s3, max_backup_age="%ds" % max(1, int(age / 2))))
    assert res["failed_checks"] == ["backup_age"]
    assert "older than max_backup_age" in res["checks"]["backup_age"]["message"]


def test_corrupt_backup_info(archive):
    name, prefix = damaged_copy(archive.s3)
    info_key = sorted(k for k in keys(archive.s3, prefix + "base/") if k.endswith("backup.info"))[0]
    archive.s3.client().put_object(Bucket=BUCKET, Key=info_key, Body=b"\x00\x13garbage\xff" * 40)
    res = backup_verify.verify(params(archive.s3, server_name=name, min_backups=1))
    assert "base_backups" in res["failed_checks"]
    assert "unreadable backup.info" in res["checks"]["base_backups"]["message"]
    assert res["unreadable_backups"][0]["backup_id"] in info_key


def test_truncated_data_tar_fails_deep(archive):
    name, prefix = damaged_copy(archive.s3)
    client = archive.s3.client()
    data_key = sorted(k for k in keys(archive.s3, prefix + "base/") if "/data.tar" in k)[-1]
    body = client.get_object(Bucket=BUCKET, Key=data_key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=data_key, Body=body[: len(body) // 2])
    shallow = backup_verify.verify(params(archive.s3, server_name=name))
    assert shallow["failed_checks"] == []
    res = backup_verify.verify(params(archive.s3, server_name=name, deep=True))
    assert res["failed_checks"] == ["deep"], res["checks"]
    assert "not a complete tar archive" in res["checks"]["deep"]["message"]


def test_deleted_data_tar_fails_without_deep(archive, request):
    """The newest backup's data.tar is gone: base_backups fails from the listing alone, naming the backup."""
    name, prefix = damaged_copy(archive.s3)
    client = archive.s3.client()
    data_key = sorted(k for k in keys(archive.s3, prefix + "base/") if "/data.tar" in k)[-1]
    backup_id = data_key.split("/")[-2]
    client.delete_object(Bucket=BUCKET, Key=data_key)
    res = backup_verify.verify(params(archive.s3, server_name=name, min_backups=1))
    assert res["failed_checks"] == ["base_backups"], res["checks"]
    assert "%s (data.tar missing under base/%s/)" % (backup_id, backup_id) in res["checks"]["base_backups"]["message"]
    assert [b["usable"] for b in res["backups"]] == [True, False]
    record(request, "newest backup's data.tar deleted (real barman-cloud archive on SeaweedFS), deep: false",
           "base_backups fails naming the backup and the object", res["checks"]["base_backups"]["message"])
    # an empty object in its place (an upload that wrote nothing) is no better
    client.put_object(Bucket=BUCKET, Key=data_key, Body=b"")
    res = backup_verify.verify(params(archive.s3, server_name=name, min_backups=1))
    assert "%s is empty (0 bytes)" % os.path.basename(data_key) in res["checks"]["base_backups"]["message"]
    assert res["failed_checks"] == ["base_backups"]


def test_wal_archived_only_up_to_before_the_newest_backups_end_wal(archive, request):
    """WAL stops before the newest backup's end_wal: no gap on the replay path, but that backup never becomes
    consistent, so wal_continuity fails naming its end_wal."""
    name, prefix = damaged_copy(archive.s3)
    client = archive.s3.client()
    info_key = sorted(k for k in keys(archive.s3, prefix + "base/") if k.endswith("backup.info"))[-1]
    info = dict(line.split("=", 1) for line in client.get_object(Bucket=BUCKET, Key=info_key)["Body"].read()
                .decode().splitlines() if "=" in line)
    end_wal = info["end_wal"]
    dropped = [k for k in keys(archive.s3, prefix + "wals/")
               if os.path.basename(k)[:24] >= end_wal and k.endswith(".gz") and ".backup" not in k]
    assert dropped
    for key in dropped:
        client.delete_object(Bucket=BUCKET, Key=key)
    res = backup_verify.verify(params(archive.s3, server_name=name))
    assert res["failed_checks"] == ["wal_continuity"], res["checks"]
    message = res["checks"]["wal_continuity"]["message"]
    assert "the newest backup %s needs WAL %s through its end_wal %s" % (info_key.split("/")[-2], info["begin_wal"],
                                                                         end_wal) in message
    assert "not archived: " in message and end_wal in message
    record(request, "WAL archived only up to a segment before the newest backup's end_wal",
           "wal_continuity fails naming the backup, its end_wal and the missing segments", message)


def test_server_side_encryption_is_reported(archive, request):
    """A copy written with SSE AES256 (as barman-cloud -e AES256 writes it): SeaweedFS reports it on every read."""
    name = "sse-" + uuid.uuid4().hex[:8]
    client = archive.s3.client()
    src = "postgres-production/%s/" % SERVER
    for key in keys(archive.s3, src):
        client.copy_object(Bucket=BUCKET, Key="postgres-production/%s/%s" % (name, key[len(src):]),
                           CopySource={"Bucket": BUCKET, "Key": key}, ServerSideEncryption="AES256")
    res = backup_verify.verify(params(archive.s3, server_name=name, deep=True))
    assert res["failed_checks"] == [], res["checks"]
    assert res["encryption"]["summary"] == "AES256"
    assert set(res["encryption"]["backups"].values()) == {"AES256"} and res["encryption"]["wal"] == "AES256"
    assert [b["encryption"] for b in res["backups"]] == ["AES256", "AES256"]
    assert set(res["checks"]["deep"]["encryption"].values()) == {"AES256"}
    assert "server-side encryption AES256" in res["checks"]["archive"]["message"]
    record(request, "archive copied with SSE AES256 (SeaweedFS reports it)", "encryption reported per backup and WAL",
           "encryption: %s" % json.dumps(res["encryption"], sort_keys=True))
    # the newest WAL segment rewritten without encryption: reported as mixed, naming it
    newest = "postgres-production/%s/wals/%s/%s" % (name, res["newest_wal"][:16], res["newest_wal"])
    key = list(keys(archive.s3, newest))[0]
    client.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key}, MetadataDirective="REPLACE")
    res = backup_verify.verify(params(archive.s3, server_name=name))
    assert res["encryption"]["summary"] == "mixed" and res["encryption"]["wal"] == "none"
    assert "none: the newest WAL %s" % res["newest_wal"] in res["checks"]["archive"]["message"]


class HungEndpoint:
    """A loopback TCP server that accepts connections and never answers (a hung S3 endpoint)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.accepted = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            self.accepted.append(conn)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_hung_endpoint_fails_within_the_read_timeout(request):
    """An endpoint that accepts and never answers fails after read_timeout (2s here), naming it and the option;
    bounded: the verification runs in a thread the test stops waiting for after 30s, then the server closes."""
    hung = HungEndpoint()
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["result"] = backup_verify.verify({
                "destination_path": DEST, "server_name": SERVER, "endpoint_url": hung.url, "aws_access_key": "AK",
                "aws_secret_key": "SK", "connect_timeout": 1.0, "read_timeout": 2.0, "retention_window": None})
        except StorageError as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    try:
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "backup_verify still waiting on a hung endpoint after 30s"
    finally:
        hung.close()
    worker.join(10)
    assert "error" in outcome, outcome
    assert str(outcome["error"]) == ("storage: endpoint %s did not answer while listing postgres-production/%s/: "
                                     "no response within read_timeout 2s" % (hung.url, SERVER))
    assert hung.accepted and 2 <= outcome["seconds"] < 6
    record(request, "S3 endpoint hung (loopback socket: accepts, never answers), read_timeout 2s",
           "fails within read_timeout naming the endpoint", str(outcome["error"]), outcome["seconds"])


def test_empty_archive(archive):
    res = backup_verify.verify(params(archive.s3, server_name="never-archived"))
    assert res["failed_checks"][0] == "archive"
    assert "empty archive" in res["checks"]["archive"]["message"]


def test_wrong_credentials(archive):
    with pytest.raises(StorageError, match="credentials rejected"):
        backup_verify.verify(params(archive.s3, aws_secret_key="not-the-secret"))


def test_missing_bucket(archive):
    with pytest.raises(StorageError, match="bucket no-such-bucket does not exist"):
        backup_verify.verify(params(archive.s3, destination_path="s3://no-such-bucket/postgres-production"))


def test_stopped_s3_server():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    endpoint, access, secret = server.endpoint_url, server.access_key, server.secret_key
    server.cleanup()
    p = {"endpoint_url": endpoint, "aws_access_key": access, "aws_secret_key": secret}

    class Dummy:
        pass

    dummy = Dummy()
    dummy.endpoint_url, dummy.access_key, dummy.secret_key = endpoint, access, secret
    with pytest.raises(StorageError, match="unreachable"):
        backup_verify.verify(params(dummy, **p))


def run_module(args):
    """Run the module through ansible (as a task would), returning the parsed JSON result."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    res = subprocess.run(["ansible", "localhost", "-m", "supertodo.platform.backup_verify", "-a", json.dumps(args),
                          "--check"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    data = json.loads(res.stdout)
    return res.returncode, data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_fails_cleanly_through_ansible(archive):
    args = {"destination_path": DEST, "server_name": SERVER, "endpoint_url": archive.s3.endpoint_url,
            "aws_access_key": archive.s3.access_key, "aws_secret_key": "wrong", "retention_window": ""}
    rc, result = run_module(args)
    assert rc != 0 and result["failed"] is True
    assert "storage check failed" in result["msg"] and "credentials rejected" in result["msg"]
    assert "Traceback" not in json.dumps(result)
    args["aws_secret_key"] = archive.s3.secret_key
    rc, result = run_module(args)
    assert rc == 0, result.get("msg")
    assert result["changed"] is False and result["failed_checks"] == []
    assert archive.s3.secret_key not in json.dumps(result)


def test_wait_helper_is_monotonic():
    calls = []
    assert wait_until(lambda: calls.append(1) or len(calls) >= 3, 5, "counter", interval=0.01)
    assert len(calls) == 3
