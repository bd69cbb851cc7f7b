# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 access for the backup checks (boto3): one streaming paginated listing, object reads, typed errors.

Every botocore failure becomes a StorageError whose message names the bucket, the endpoint and the cause
(unreachable endpoint, rejected credentials, missing bucket, missing object).
"""

from __future__ import annotations

import os

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError

try:
    import boto3
    import botocore.exceptions as boto_exc
    from botocore.config import Config

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

S3_ARG_SPEC = {
    "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url", "s3_url"]},
    "aws_access_key": {"type": "str", "aliases": ["access_key", "aws_access_key_id"], "no_log": True},
    "aws_secret_key": {"type": "str", "aliases": ["secret_key", "aws_secret_access_key"], "no_log": True},
    "session_token": {"type": "str", "aliases": ["aws_session_token"], "no_log": True},
    "region": {"type": "str", "aliases": ["aws_region"]},
    "validate_certs": {"type": "bool", "default": True},
    "connect_timeout": {"type": "float", "default": 5.0},
}

CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                    "ExpiredToken", "AuthorizationHeaderMalformed", "403")
BUCKET_CODES = ("NoSuchBucket",)


def s3_params_from_env(params):
    """Fill unset options from the usual environment (as amazon.aws does)."""
    env = os.environ
    out = dict(params)
    out["endpoint_url"] = params.get("endpoint_url") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") \
        or env.get("S3_URL")
    out["aws_access_key"] = params.get("aws_access_key") or env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY")
    out["aws_secret_key"] = params.get("aws_secret_key") or env.get("AWS_SECRET_ACCESS_KEY") \
        or env.get("AWS_SECRET_KEY")
    out["session_token"] = params.get("session_token") or env.get("AWS_SESSION_TOKEN")
    out["region"] = params.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return out


class ObjectStore:
    """A bucket on an S3 endpoint."""

    def __init__(self, bucket, params, client=None):
        self.bucket = bucket
        self.params = s3_params_from_env(params)
        self.endpoint = self.params.get("endpoint_url") or "AWS S3"
        self.requests = 0
        if client is not None:
            self.client = client
            return
        if not HAS_BOTO3:
            raise StorageError("the python 'boto3' package is required: %s" % BOTO3_IMPORT_ERROR, "arguments")
        config = Config(
            connect_timeout=self.params.get("connect_timeout") or 5.0,
            read_timeout=60,
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"} if self.params.get("endpoint_url") else {},
        )
        try:
            self.client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.params.get("endpoint_url"),
                aws_access_key_id=self.params.get("aws_access_key"),
                aws_secret_access_key=self.params.get("aws_secret_key"),
                aws_session_token=self.params.get("session_token"),
                region_name=self.params.get("region"),
                verify=self.params.get("validate_certs", True),
                config=config,
            )
        except (boto_exc.BotoCoreError, ValueError) as exc:
            raise StorageError("cannot create an S3 client for %s: %s" % (self.endpoint, exc)) from exc

    def describe(self, key=""):
        return "s3://%s/%s at %s" % (self.bucket, key, self.endpoint)

    def error(self, exc, what):
        """Translate a botocore exception into a StorageError naming the cause."""
        if HAS_BOTO3 and isinstance(exc, boto_exc.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = err.get("Message") or str(exc)
            if code in BUCKET_CODES:
                return StorageError("storage: bucket %s does not exist at %s (%s)" % (self.bucket, self.endpoint, code))
            if code in CREDENTIAL_CODES or status == 403:
                return StorageError("storage: credentials rejected by %s for bucket %s while %s (%s: %s)"
                                    % (self.endpoint, self.bucket, what, code, message))
            if code in ("NoSuchKey", "404"):
                return StorageError("storage: %s not found while %s" % (self.describe(), what))
            return StorageError("storage: %s failed while %s: %s %s" % (self.describe(), what, code, message))
        if HAS_BOTO3 and isinstance(exc, boto_exc.NoCredentialsError):
            return StorageError("storage: no S3 credentials for %s (set aws_access_key/aws_secret_key or "
                                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)" % self.endpoint)
        if HAS_BOTO3 and isinstance(exc, (boto_exc.EndpointConnectionError, boto_exc.ConnectTimeoutError,
                                          boto_exc.ReadTimeoutError, boto_exc.ConnectionClosedError)):
            return StorageError("storage: endpoint %s unreachable while %s: %s" % (self.endpoint, what, exc))
        return StorageError("storage: %s failed while %s: %s" % (self.describe(), what, exc))

    def _catch(self):
        if HAS_BOTO3:
            return (boto_exc.BotoCoreError, boto_exc.ClientError, OSError)
        return (OSError,)

    def list(self, prefix, page_size=1000):
        """Yield ``(key, size, last_modified)`` for every object under ``prefix``, one page in memory at a time."""
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                self.requests += 1
                page = self.client.list_objects_v2(**kwargs)
            except self._catch() as exc:
                raise self.error(exc, "listing %s" % prefix) from exc
            for obj in page.get("Contents", ()):
                yield obj["Key"], obj.get("Size", 0), obj.get("LastModified")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def read(self, key, limit=16 * 1024 * 1024):
        """The bytes of a (small) object."""
        try:
            self.requests += 1
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            data = body.read(limit + 1)
            body.close()
        except self._catch() as exc:
            raise self.error(exc, "reading %s" % key) from exc
        if len(data) > limit:
            raise StorageError("storage: %s is larger than %d bytes" % (self.describe(key), limit), "parse")
        return data

    def open(self, key):
        """``(streaming body, content length)`` for reading a large object to the end."""
        try:
            self.requests += 1
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
        except self._catch() as exc:
            raise self.error(exc, "reading %s" % key) from exc
        return resp["Body"], resp.get("ContentLength")

    def read_errors(self):
        return self._catch()
