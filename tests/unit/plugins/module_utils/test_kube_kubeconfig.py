"""The client's own kubeconfig reader, against a TLS API server on 127.0.0.1 (kube_loopback)."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.supertodo.platform.plugins.module_utils.kube import client as kube_client
from ansible_collections.supertodo.platform.plugins.module_utils.kube import kubeconfig
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient, build_configuration
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError, ConnectionConfigError

from kube_loopback import LoopbackServer, Pki

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki):
    with LoopbackServer(pki) as srv:
        yield srv


@pytest.fixture(scope="module")
def mtls(pki):
    with LoopbackServer(pki, client_ca=True) as srv:
        yield srv


def b64(data):
    return base64.b64encode(data).decode()


def write_kubeconfig(path, server, user, cluster_extra=None, contexts=None, current="main"):
    cluster = {"server": server}
    cluster.update(cluster_extra or {})
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": contexts or [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def last_auth(srv):
    return srv.seen[-1]["headers"].get("Authorization")


def test_ca_and_client_certificate_as_data(tmp_path, pki, mtls, monkeypatch):
    kc = write_kubeconfig(tmp_path / "kc", mtls.url,
                          {"client-certificate-data": b64(pki.client_cert), "client-key-data": b64(pki.client_key)},
                          {"certificate-authority-data": b64(pki.ca)})
    loaded = []
    real_load = ssl.SSLContext.load_cert_chain

    def spy(ctx, certfile, keyfile=None, password=None):
        loaded.append((certfile, os.stat(certfile).st_mode & 0o777, os.stat(keyfile).st_mode & 0o777))
        return real_load(ctx, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    client = KubeClient({"kubeconfig": kc})
    assert client.request("GET", "/version")["minor"] == "30"
    assert mtls.seen[-1]["client_cn"] == "tester"
    assert client.configuration.host == mtls.url
    # ssl reads certificates from files only: written readable by the user alone, removed once loaded
    assert [mode for _f, *mode in loaded] == [[0o600, 0o600]] and not os.path.exists(loaded[0][0])


def test_relative_certificate_paths_resolve_from_the_kubeconfigs_folder(tmp_path, pki, mtls, monkeypatch):
    folder = tmp_path / "conf"
    (folder / "pki").mkdir(parents=True)
    for name in ("ca", "client_cert", "client_key"):
        (folder / "pki" / (name + ".pem")).write_bytes(getattr(pki, name))
    kc = write_kubeconfig(folder / "config", mtls.url,
                          {"client-certificate": "pki/client_cert.pem", "client-key": "pki/client_key.pem"},
                          {"certificate-authority": "pki/ca.pem"})
    monkeypatch.chdir(tmp_path)
    cfg = build_configuration({"kubeconfig": kc}, environ={})
    assert cfg.ssl_ca_cert == str(folder / "pki" / "ca.pem")
    assert KubeClient({"kubeconfig": kc}).request("GET", "/version")["major"] == "1"
    assert mtls.seen[-1]["client_cn"] == "tester"


def test_token_and_token_file(tmp_path, pki, server):
    kc = write_kubeconfig(tmp_path / "a" / "kc", server.url, {"token": "tok-1"}, {"certificate-authority": str(tmp_path / "ca")})
    (tmp_path / "ca").write_bytes(pki.ca)
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert last_auth(server) == "Bearer tok-1"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "token").write_text("tok-from-file\n")
    kc = write_kubeconfig(tmp_path / "b" / "kc", server.url, {"tokenFile": "token"},
                          {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert last_auth(server) == "Bearer tok-from-file"


def test_an_api_key_option_wins_over_the_kubeconfigs_token(tmp_path, pki, server):
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"token": "tok-1"}, {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc, "api_key": "mine"}).request("GET", "/version")
    assert last_auth(server) == "Bearer mine"


def test_basic_auth(tmp_path, pki, server):
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"username": "ann", "password": "s3cret"},
                          {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert last_auth(server) == "Basic " + b64(b"ann:s3cret")


def test_insecure_skip_tls_verify_and_validate_certs_false(tmp_path, server):
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"token": "t"}, {"insecure-skip-tls-verify": True})
    assert KubeClient({"kubeconfig": kc}).request("GET", "/version")["major"] == "1"
    kc = write_kubeconfig(tmp_path / "kc2", server.url, {"token": "t"})
    with pytest.raises(ApiError, match="unreachable: .*CERTIFICATE_VERIFY_FAILED"):
        KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert KubeClient({"kubeconfig": kc, "validate_certs": False}).request("GET", "/version")["major"] == "1"


def test_tls_server_name(tmp_path, pki):
    with LoopbackServer(pki, cert="named") as named:
        kc = write_kubeconfig(tmp_path / "kc", named.url, {"token": "t"}, {"certificate-authority-data": b64(pki.ca)})
        with pytest.raises(ApiError, match="unreachable"):
            KubeClient({"kubeconfig": kc}).request("GET", "/version")
        kc = write_kubeconfig(tmp_path / "kc", named.url, {"token": "t"},
                              {"certificate-authority-data": b64(pki.ca), "tls-server-name": "kube.test"})
        assert KubeClient({"kubeconfig": kc}).request("GET", "/version")["major"] == "1"


EXEC_PLUGIN = textwrap.dedent("""\
    import json, os, sys
    info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
    if sys.argv[1:] != ["get-token", "--cluster", "prod"] or os.environ.get("EXTRA") != "yes":
        sys.exit("unexpected args %r" % sys.argv[1:])
    status = {"token": "exec-token"} if os.environ.get("MODE") != "cert" else {
        "clientCertificateData": open(os.environ["CERT"]).read(), "clientKeyData": open(os.environ["KEY"]).read()}
    print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}))
    """)


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_exec_plugin_token(tmp_path, pki, server, api_version):
    (tmp_path / "plugin.py").write_text(EXEC_PLUGIN)
    user = {"exec": {"apiVersion": api_version, "command": sys.executable,
                     "args": [str(tmp_path / "plugin.py"), "get-token", "--cluster", "prod"],
                     "env": [{"name": "EXTRA", "value": "yes"}], "interactiveMode": "Never"}}
    kc = write_kubeconfig(tmp_path / "kc", server.url, user, {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert last_auth(server) == "Bearer exec-token"


def test_an_exec_command_with_a_relative_path_runs_from_the_kubeconfigs_folder(tmp_path, pki, server):
    (tmp_path / "conf" / "bin").mkdir(parents=True)
    script = tmp_path / "conf" / "bin" / "cred"
    script.write_text("#!%s\n%s" % (sys.executable, EXEC_PLUGIN))
    script.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "bin/cred",
                     "args": ["get-token", "--cluster", "prod"], "env": [{"name": "EXTRA", "value": "yes"}]}}
    kc = write_kubeconfig(tmp_path / "conf" / "kc", server.url, user, {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert last_auth(server) == "Bearer exec-token"


def test_exec_plugin_client_certificate(tmp_path, pki, mtls):
    (tmp_path / "plugin.py").write_text(EXEC_PLUGIN)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(tmp_path / "plugin.py"), "get-token", "--cluster", "prod"],
                     "env": [{"name": "EXTRA", "value": "yes"}, {"name": "MODE", "value": "cert"},
                             {"name": "CERT", "value": pki.path("client_cert")},
                             {"name": "KEY", "value": pki.path("client_key")}]}}
    kc = write_kubeconfig(tmp_path / "kc", mtls.url, user, {"certificate-authority-data": b64(pki.ca)})
    KubeClient({"kubeconfig": kc}).request("GET", "/version")
    assert mtls.seen[-1]["client_cn"] == "tester"


def test_a_failing_exec_plugin_names_the_command_the_file_and_the_context(tmp_path, server):
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": ["-c", "import sys; sys.exit('no credentials for you')"]}}
    kc = write_kubeconfig(tmp_path / "kc", server.url, user)
    with pytest.raises(ConnectionConfigError) as err:
        build_configuration({"kubeconfig": kc}, environ={})
    text = str(err.value)
    assert kc in text and "main" in text and sys.executable in text and "no credentials for you" in text
    user["exec"]["command"] = "no-such-credential-helper"
    kc = write_kubeconfig(tmp_path / "kc", server.url, user)
    with pytest.raises(ConnectionConfigError, match="no-such-credential-helper"):
        build_configuration({"kubeconfig": kc}, environ={})


def test_context_option_environment_and_errors(tmp_path, pki, server):
    contexts = [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "x"}}]
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"token": "t"}, contexts=contexts, current="other")
    assert build_configuration({"kubeconfig": kc}, environ={}).context == "other"
    assert build_configuration({"kubeconfig": kc, "context": "main"}, environ={}).context == "main"
    assert build_configuration({"kubeconfig": kc}, environ={"K8S_AUTH_CONTEXT": "main"}).context == "main"
    with pytest.raises(ConnectionConfigError, match="kubeconfig %s, context nope: .*main, other" % kc):
        build_configuration({"kubeconfig": kc, "context": "nope"}, environ={})
    kc = write_kubeconfig(tmp_path / "kc2", server.url, {"token": "t"}, current="")
    with pytest.raises(ConnectionConfigError, match=r"kubeconfig %s, context \(current\): .*current-context" % kc):
        build_configuration({"kubeconfig": kc}, environ={})


def test_kubeconfig_list_is_merged_first_file_wins(tmp_path, pki, server):
    first = write_kubeconfig(tmp_path / "one" / "kc", server.url, {"token": "first"}, current="main")
    second = write_kubeconfig(tmp_path / "two" / "kc", server.url, {"token": "second"},
                              contexts=[{"name": "two", "context": {"cluster": "c", "user": "u"}}], current="two")
    cfg = build_configuration({}, environ={"KUBECONFIG": "%s:%s" % (first, second)})
    assert cfg.context == "main" and cfg.api_key == {"authorization": "Bearer first"}
    cfg = build_configuration({"context": "two"}, environ={"KUBECONFIG": "%s:%s" % (tmp_path / "none", second)})
    assert cfg.api_key == {"authorization": "Bearer second"}


def test_auth_provider_falls_back_to_the_kubernetes_package(tmp_path, server):
    claims = base64.urlsafe_b64encode(b'{"exp": 4102444800}').decode().rstrip("=")
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"auth-provider": {"name": "oidc", "config": {
        "id-token": "e30.%s.sig" % claims, "client-id": "x", "idp-issuer-url": "https://idp.invalid"}}})
    cfg = build_configuration({"kubeconfig": kc}, environ={})
    assert type(cfg).__module__.startswith("kubernetes.")
    assert cfg.host == server.url


def test_proxy_url_falls_back_to_the_kubernetes_package(tmp_path, server):
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"token": "t"}, {"proxy-url": "http://127.0.0.1:1"})
    client = KubeClient({"kubeconfig": kc})
    assert type(client.configuration).__module__.startswith("kubernetes.")
    assert client.configuration.host == server.url


def test_a_module_run_does_not_import_the_kubernetes_package(tmp_path, pki, server):
    kc = write_kubeconfig(tmp_path / "kc", server.url, {"token": "t"}, {"certificate-authority-data": b64(pki.ca)})
    code = textwrap.dedent("""\
        import sys
        from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
        client = KubeClient({"kubeconfig": sys.argv[1]})
        assert client.list("v1", "ConfigMap", "demo")["kind"] == "ConfigMapList"
        loaded = sorted(m for m in sys.modules if m == "kubernetes" or m.startswith(("kubernetes.", "urllib3")))
        assert not loaded, loaded
        """)
    env = dict(os.environ, PYTHONPATH=str(REPO / ".collections"))
    proc = subprocess.run([sys.executable, "-c", code, kc], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_client_module_has_no_top_level_kubernetes_import():
    assert "kubernetes" not in vars(kube_client)


def test_a_kubeconfig_that_is_not_yaml_is_named_by_position_never_by_its_lines(tmp_path):
    # PyYAML's pure-Python loader quotes the offending line in its message; the file holds credentials
    bad = tmp_path / "config"
    bad.write_text("apiVersion: v1\nusers:\n- name: u\n  user:\n\ttoken: s3cr3t-token-value\n")
    with pytest.raises(ConnectionConfigError) as err:
        build_configuration({"kubeconfig": str(bad)}, environ={})
    assert "cannot be read: not valid YAML at line 5, column 1" in str(err.value)
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(ValueError) as err:
        kubeconfig.contexts(str(bad))
    assert "s3cr3t" not in str(err.value)


def test_context_names_only(tmp_path):
    path = tmp_path / "config"
    path.write_text("current-context: b\ncontexts:\n- {name: a, context: {cluster: c}}\n- {name: b, context: {cluster: c}}\n")
    assert kubeconfig.contexts(str(path)) == (["a", "b"], "b")
