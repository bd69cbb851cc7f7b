# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ObjectStore over a fake boto3 client: timeouts are options, a timed-out request is not repeated, transient
failures are, and every error names the endpoint; the encryption a response reports is returned."""

from __future__ import annotations

import botocore.exceptions as boto_exc
import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup import s3
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError

ENDPOINT = "http://127.0.0.1:9"


class FakeClient:
    def __init__(self, *failures, response=None):
        self.failures = list(failures)
        self.calls = []
        self.response = response or {}

    def _answer(self, name, kwargs):
        self.calls.append(name)
        if self.failures:
            raise self.failures.pop(0)
        return dict(self.response)

    def list_objects_v2(self, **kwargs):
        return self._answer("list_objects_v2", kwargs)

    def head_object(self, **kwargs):
        return self._answer("head_object", kwargs)


def store(client, **params):
    return s3.ObjectStore("super-todo-backups", dict({"endpoint_url": ENDPOINT}, **params), client=client)


def test_timeout_defaults_and_options():
    assert s3.S3_ARG_SPEC["connect_timeout"]["default"] == 10.0
    assert s3.S3_ARG_SPEC["read_timeout"]["default"] == 30.0
    default = store(FakeClient())
    assert (default.connect_timeout, default.read_timeout) == (10.0, 30.0)
    given = store(FakeClient(), connect_timeout=1, read_timeout=2.5)
    assert (given.connect_timeout, given.read_timeout) == (1.0, 2.5)


@pytest.mark.parametrize("name", ["connect_timeout", "read_timeout"])
def test_timeouts_must_be_positive(name):
    with pytest.raises(StorageError, match=r"^%s must be a positive number of seconds, got -1$" % name) as err:
        store(FakeClient(), **{name: -1})
    assert err.value.check == "arguments"


def test_a_read_timeout_is_not_repeated_and_names_the_endpoint_and_the_option(monkeypatch):
    monkeypatch.setattr(s3.time, "sleep", lambda seconds: None)
    client = FakeClient(boto_exc.ReadTimeoutError(endpoint_url=ENDPOINT))
    with pytest.raises(StorageError) as err:
        list(store(client, read_timeout=2).list("pg/"))
    assert client.calls == ["list_objects_v2"]
    assert str(err.value) == ("storage: endpoint %s did not answer while listing pg/: no response within "
                              "read_timeout 2s" % ENDPOINT)
    client = FakeClient(boto_exc.ConnectTimeoutError(endpoint_url=ENDPOINT))
    with pytest.raises(StorageError, match="unreachable while listing pg/: no connection within connect_timeout 1.5s"):
        list(store(client, connect_timeout=1.5).list("pg/"))
    assert client.calls == ["list_objects_v2"]


def test_refused_connections_and_server_errors_are_tried_again(monkeypatch):
    monkeypatch.setattr(s3.time, "sleep", lambda seconds: None)
    busy = boto_exc.ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"},
                                 "ResponseMetadata": {"HTTPStatusCode": 503}}, "ListObjectsV2")
    client = FakeClient(boto_exc.EndpointConnectionError(endpoint_url=ENDPOINT), busy,
                        response={"Contents": [{"Key": "pg/a", "Size": 1}]})
    assert [k for k, dummy, dummy in store(client).list("pg/")] == ["pg/a"]
    assert client.calls == ["list_objects_v2"] * 3
    refused = [boto_exc.EndpointConnectionError(endpoint_url=ENDPOINT)] * 3
    client = FakeClient(*refused)
    with pytest.raises(StorageError, match="endpoint %s unreachable while listing" % ENDPOINT):
        list(store(client).list("pg/"))
    assert len(client.calls) == s3.ATTEMPTS
    denied = boto_exc.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                                   "ResponseMetadata": {"HTTPStatusCode": 403}}, "ListObjectsV2")
    client = FakeClient(denied)
    with pytest.raises(StorageError, match="credentials rejected"):
        list(store(client).list("pg/"))
    assert client.calls == ["list_objects_v2"]


def test_head_reports_the_server_side_encryption():
    client = FakeClient(response={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:eu:1:key/k"})
    assert store(client).head("pg/x") == {"encryption": "aws:kms", "kms_key_id": "arn:aws:kms:eu:1:key/k"}
    assert store(FakeClient()).head("pg/x") == {"encryption": "none", "kms_key_id": None}
