"""Benchmark (not a test): backup_verify against one bare paginated listing of the same prefix, same run.

Starts a loopback SeaweedFS S3 (tools/services), fills it with 7 days of one-minute WAL segments (>= 10,080
objects, gzip suffix, one 16 MiB-named segment per minute) and 7 daily base backups (backup.info + data.tar),
then times, alternately, a bare ``list_objects_v2`` pagination of the server prefix and a full backup_verify run
(shallow), and prints both medians and the ratio (goal <= 1.3). Also prints backup_verify's peak Python memory.

    source tools/env.sh && python benchmarks/backup_verify_bench.py [--days 7] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import tarfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, ".collections"), os.path.join(ROOT, "tools"), os.path.join(ROOT, "benchmarks")]

from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import segment_name  # noqa: E402
from ansible_collections.supertodo.platform.plugins.modules import backup_verify  # noqa: E402
from services.seaweedfs import SeaweedS3  # noqa: E402

import machine  # noqa: E402

BUCKET = "super-todo-backups"
PREFIX = "postgres-production"
SERVER = "postgres-production"

BACKUP_INFO = """backup_label='START WAL LOCATION: 0/0 (file {begin})\\nSTART TIMELINE: 1\\n'
begin_offset=40
begin_time={begin_time}
begin_wal={begin}
begin_xlog=0/0
end_offset=256
end_time={end_time}
end_wal={end}
end_xlog=0/0
error=None
server_name=cloud
status=DONE
timeline=1
version=150018
xlog_segment_size=16777216
"""


def tiny_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"START WAL LOCATION\n"
        info = tarfile.TarInfo("backup_label")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fill(s3, days):
    client = s3.client()
    base = "%s/%s/" % (PREFIX, SERVER)
    minutes = days * 24 * 60
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(minutes=minutes)
    puts = []
    for i in range(minutes):
        name = segment_name(1, i + 1)
        puts.append(("%swals/%s/%s.gz" % (base, name[:16], name), b"wal"))
    tar = tiny_tar()
    for day in range(days):
        first = day * 24 * 60 + 1
        begin_time = start + datetime.timedelta(minutes=first)
        backup_id = begin_time.strftime("%Y%m%dT%H%M%S")
        info = BACKUP_INFO.format(begin=segment_name(1, first), end=segment_name(1, first + 1),
                                  begin_time=begin_time.isoformat(sep=" "),
                                  end_time=(begin_time + datetime.timedelta(seconds=50)).isoformat(sep=" "))
        puts.append(("%sbase/%s/backup.info" % (base, backup_id), info.encode()))
        puts.append(("%sbase/%s/data.tar" % (base, backup_id), tar))

    def put(item):
        client.put_object(Bucket=BUCKET, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, puts))
    return len(puts)


def bare_listing(s3):
    client = s3.client()
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="%s/%s/" % (PREFIX, SERVER)):
        count += len(page.get("Contents", ()))
    return count


def params(s3):
    return {"destination_path": "s3://%s/%s" % (BUCKET, PREFIX), "server_name": SERVER,
            "endpoint_url": s3.endpoint_url, "aws_access_key": s3.access_key, "aws_secret_key": s3.secret_key,
            "session_token": None, "region": "us-east-1", "validate_certs": True, "connect_timeout": 5.0,
            "max_backup_age": "8d", "retention_window": "6d", "retention_tolerance": "2d", "rpo": "1d",
            "min_backups": 7, "deep": False, "cluster": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    machine.print_info()
    with SeaweedS3(buckets=(BUCKET,)) as s3:
        t0 = time.monotonic()
        count = fill(s3, args.days)
        print("filled %d objects in %.1fs" % (count, time.monotonic() - t0))
        bare_listing(s3)  # warm-up of both paths
        result = backup_verify.verify(params(s3))
        assert result["failed_checks"] == [], result["checks"]
        assert result["segments"] == args.days * 24 * 60, result["segments"]
        bare, verify = [], []
        for dummy in range(args.rounds):
            t = time.monotonic()
            listed = bare_listing(s3)
            bare.append(time.monotonic() - t)
            t = time.monotonic()
            backup_verify.verify(params(s3))
            verify.append(time.monotonic() - t)
        tracemalloc.start()
        backup_verify.verify(params(s3))
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        b, v = statistics.median(bare), statistics.median(verify)
        print("objects listed: %d (segments %d, backups %d)" % (listed, result["segments"], len(result["backups"])))
        print("bare paginated listing: median %.3fs  %s" % (b, " ".join("%.3f" % x for x in bare)))
        print("backup_verify:          median %.3fs  %s" % (v, " ".join("%.3f" % x for x in verify)))
        print("ratio backup_verify / listing: %.2fx (goal <= 1.3x)" % (v / b))
        print("backup_verify peak traced Python memory: %.1f KiB" % (peak / 1024))


if __name__ == "__main__":
    main()
