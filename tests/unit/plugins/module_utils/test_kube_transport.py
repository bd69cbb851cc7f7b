"""The client's HTTP transport (http.client + ssl) against a loopback API server (kube_loopback)."""

from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError

from kube_loopback import LoopbackServer, Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def server(pki):
    with LoopbackServer(pki) as srv:
        yield srv


def client_for(srv, pki, **extra):
    params = {"host": srv.url, "api_key": "tok", "ca_cert": pki.path("ca")}
    params.update(extra)
    return KubeClient(params)


def test_one_connection_for_many_requests(server, pki):
    client = client_for(server, pki)
    for dummy in range(5):
        client.request("GET", "/version")
    assert client.get("v1", "ConfigMap", "present", "demo")["metadata"]["name"] == "present"
    assert client.get("v1", "ConfigMap", "absent", "demo") is None
    assert server.connections == 1 and client.requests == 8
    assert all(s["headers"]["Authorization"] == "Bearer tok" for s in server.seen)


def test_query_is_encoded(server, pki):
    client = client_for(server, pki)
    answer = client.list("v1", "ConfigMap", "demo", label_selector="app in (a,b),tier=web")
    assert answer["query"] == {"labelSelector": ["app in (a,b),tier=web"]}


def test_api_errors_carry_status_message_and_body(server, pki):
    client = client_for(server, pki)
    with pytest.raises(ApiError) as err:
        client.request("GET", "/api/v1/namespaces/demo/secrets/x")
    assert str(err.value) == "GET /api/v1/namespaces/demo/secrets/x: 404 the server could not find the requested resource"
    assert err.value.status == 404 and err.value.reason == "Not Found" and err.value.body["reason"] == "NotFound"
    with pytest.raises(ApiError) as err:
        client.request("GET", "/boom")
    assert str(err.value) == "GET /boom: 500 Internal Server Error" and err.value.status == 500
    with pytest.raises(ApiError, match=r'PATCH /api/v1/namespaces/demo/configmaps/bad: 422 ConfigMap "bad" is invalid'):
        client.patch("v1", "ConfigMap", "bad", "demo", {"metadata": {"name": "bad"}})
    assert client.request("GET", "/version")["major"] == "1"       # the connection survives error answers
    assert server.connections == 1


def test_patch_body_is_encoded_once_with_its_content_type(server, pki):
    client = client_for(server, pki)
    out = client.patch("v1", "ConfigMap", "cm", "demo", '{"metadata": {"name": "cm"}}', patch_type="apply",
                       query={"fieldManager": "t", "force": "true"})
    assert out == {"metadata": {"name": "cm"}}
    seen = server.seen[-1]
    assert seen["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert seen["path"] == "/api/v1/namespaces/demo/configmaps/cm?fieldManager=t&force=true"
    assert seen["body"] == b'{"metadata": {"name": "cm"}}'


def test_unreachable_server_and_timeout_name_the_host(server, pki):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = KubeClient({"host": "https://127.0.0.1:%d" % port, "validate_certs": False})
    with pytest.raises(ApiError, match=r"GET /version: API server https://127.0.0.1:%d unreachable: " % port) as err:
        client.request("GET", "/version")
    assert err.value.status == 0
    client = client_for(server, pki)
    with pytest.raises(ApiError, match=r"GET /slow: API server %s unreachable: .*timed out" % server.url):
        client.request("GET", "/slow", timeout=0.3)


def test_a_dropped_idle_connection_is_reopened_for_a_read_not_for_a_patch(server, pki):
    client = client_for(server, pki)
    client.resource("v1", "ConfigMap")
    client.request("GET", "/drop-after")
    assert client.request("GET", "/version")["major"] == "1"       # dropped, then sent again on a new connection
    assert server.connections == 2
    client.request("GET", "/drop-after")
    with pytest.raises(ApiError, match="PATCH .* unreachable"):
        client.patch("v1", "ConfigMap", "cm", "demo", {"metadata": {"name": "cm"}})
    assert client.request("GET", "/version")["major"] == "1"
    assert server.connections == 3


def test_a_connection_the_server_closed_while_idle_is_replaced_before_sending(server, pki):
    client = client_for(server, pki)
    client.request("GET", "/close-after")          # answered, then the server closes the idle connection
    time.sleep(0.2)
    assert client.patch("v1", "ConfigMap", "cm", "demo", {"metadata": {"name": "cm"}})["metadata"]["name"] == "cm"
    assert server.connections == 2


def test_watch_streams_chunked_events_on_its_own_connection(server, pki):
    client = client_for(server, pki)
    client.request("GET", "/version")
    events = list(client.watch("v1", "ConfigMap", "demo", name="a", resource_version="1", timeout=5))
    assert [(t, o["metadata"]["resourceVersion"]) for t, o in events] == [("ADDED", "1"), ("MODIFIED", "2")]
    watch = server.seen[-1]
    assert "watch=true" in watch["path"] and "fieldSelector=metadata.name%3Da" in watch["path"]
    assert server.connections == 2
    assert client.request("GET", "/version")["major"] == "1"       # the main connection is still the first one
    assert server.connections == 2


def test_plain_http_server(pki):
    with LoopbackServer() as srv:
        client = KubeClient({"host": srv.url})
        assert client.request("GET", "/version")["major"] == "1"
        assert "Authorization" not in srv.seen[-1]["headers"]


def test_a_refused_watch_is_an_api_error_with_the_status(server, pki):
    client = client_for(server, pki)
    with pytest.raises(ApiError) as err:
        list(client.watch("v1", "ConfigMap", "elsewhere", timeout=5))
    assert err.value.status == 404 and "could not find" in str(err.value)


def test_the_user_agent_can_be_set_for_audit_logs(server, pki):
    client = client_for(server, pki)
    client.request("GET", "/version")
    assert server.seen[-1]["headers"]["User-Agent"] == "supertodo.platform"
    client.api.user_agent = "supertodo-converge-bench"
    client.request("GET", "/version")
    assert server.seen[-1]["headers"]["User-Agent"] == "supertodo-converge-bench"
