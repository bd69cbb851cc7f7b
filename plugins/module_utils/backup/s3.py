# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 access for the backup checks (boto3): one streaming paginated listing, object reads, typed errors.

Every botocore failure becomes a StorageError whose message names the bucket, the endpoint and the cause
(unreachable endpoint, rejected credentials, missing bucket, missing object, no answer within a timeout).

Each request waits at most ``connect_timeout`` for the connection and ``read_timeout`` for each read. A request
that timed out is not repeated (an endpoint that accepts connections and never answers fails after one
``read_timeout``); a refused connection or a transient server error (5xx, throttling) is tried up to
``ATTEMPTS`` times.
"""

from __future__ import annotations

import os
import time

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
    "connect_timeout": {"type": "float", "default": 10.0},
    "read_timeout": {"type": "float", "default": 30.0},
}

ATTEMPTS = 3
RETRY_DELAY = 0.2
RETRY_CODES = ("InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
               "RequestTimeout", "RequestTimeTooSkewed", "500", "502", "503", "504")

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
        self.connect_timeout = _timeout(self.params, "connect_timeout", 10.0)
        self.read_timeout = _timeout(self.params, "read_timeout", 30.0)
        if client is not None:
            self.client = client
            return
        if not HAS_BOTO3:
            raise StorageError("the python 'boto3' package is required: %s" % BOTO3_IMPORT_ERROR, "arguments")
        config = Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            # retries are ours (_call): botocore would repeat a request that timed out, multiplying the timeout
            retries={"total_max_attempts": 1, "mode": "standard"},
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
        if HAS_BOTO3 and isinstance(exc, boto_exc.ConnectTimeoutError):
            return StorageError("storage: endpoint %s unreachable while %s: no connection within connect_timeout %ss"
                                % (self.endpoint, what, _fmt(self.connect_timeout)))
        if HAS_BOTO3 and isinstance(exc, boto_exc.ReadTimeoutError):
            return StorageError("storage: endpoint %s did not answer while %s: no response within read_timeout %ss"
                                % (self.endpoint, what, _fmt(self.read_timeout)))
        if HAS_BOTO3 and isinstance(exc, (boto_exc.EndpointConnectionError, boto_exc.ConnectionClosedError)):
            return StorageError("storage: endpoint %s unreachable while %s: %s" % (self.endpoint, what, exc))
        return StorageError("storage: %s failed while %s: %s" % (self.describe(), what, exc))

    def _catch(self):
        if HAS_BOTO3:
            return (boto_exc.BotoCoreError, boto_exc.ClientError, OSError)
        return (OSError,)

    def _retryable(self, exc):
        if not HAS_BOTO3 or isinstance(exc, (boto_exc.ConnectTimeoutError, boto_exc.ReadTimeoutError)):
            return False
        if isinstance(exc, boto_exc.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return code in RETRY_CODES or status >= 500
        return isinstance(exc, (boto_exc.EndpointConnectionError, boto_exc.ConnectionClosedError))

    def _call(self, what, method, **kwargs):
        """One S3 request (counted), tried again after a refused connection or a transient server error."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests += 1
                return getattr(self.client, method)(**kwargs)
            except self._catch() as exc:
                if attempt >= ATTEMPTS or not self._retryable(exc):
                    raise self.error(exc, what) from exc
            time.sleep(RETRY_DELAY * attempt)

    def list(self, prefix, page_size=1000):
        """Yield ``(key, size, last_modified)`` for every object under ``prefix``, one page in memory at a time."""
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("listing %s" % prefix, "list_objects_v2", **kwargs)
            for obj in page.get("Contents", ()):
                yield obj["Key"], obj.get("Size", 0), obj.get("LastModified")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def read(self, key, limit=16 * 1024 * 1024):
        """The bytes of a (small) object."""
        return self.read_object(key, limit)[0]

    def read_object(self, key, limit=16 * 1024 * 1024):
        """``(bytes, metadata)`` of a (small) object; metadata as :func:`object_meta`."""
        resp = self._call("reading %s" % key, "get_object", Bucket=self.bucket, Key=key)
        try:
            body = resp["Body"]
            data = body.read(limit + 1)
            body.close()
        except self._catch() as exc:
            raise self.error(exc, "reading %s" % key) from exc
        if len(data) > limit:
            raise StorageError("storage: %s is larger than %d bytes" % (self.describe(key), limit), "parse")
        return data, object_meta(resp)

    def head(self, key):
        """The metadata of an object (:func:`object_meta`) without reading it."""
        return object_meta(self._call("reading the metadata of %s" % key, "head_object", Bucket=self.bucket, Key=key))

    def open(self, key):
        """``(streaming body, content length)`` for reading a large object to the end."""
        return self.open_object(key)[:2]

    def open_object(self, key):
        """``(streaming body, content length, metadata)``."""
        resp = self._call("reading %s" % key, "get_object", Bucket=self.bucket, Key=key)
        return resp["Body"], resp.get("ContentLength"), object_meta(resp)

    def read_errors(self):
        return self._catch()


def object_meta(resp):
    """What a GET or HEAD response says about an object: the server-side encryption the server reports."""
    return {"encryption": resp.get("ServerSideEncryption") or "none", "kms_key_id": resp.get("SSEKMSKeyId")}


def _timeout(params, name, default):
    value = params.get(name)
    if value is None:
        return default
    if value <= 0:
        raise StorageError("%s must be a positive number of seconds, got %s" % (name, _fmt(value)), "arguments")
    return float(value)


def _fmt(seconds):
    return ("%d" % seconds) if float(seconds).is_integer() else ("%g" % seconds)
