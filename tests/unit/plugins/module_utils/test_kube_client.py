"""Connection options of the shared Kubernetes client: explicit options, then the K8S_AUTH_* environment."""

from __future__ import annotations

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import build_configuration, connection_params
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ConnectionConfigError

AWX = {"K8S_AUTH_HOST": "https://10.0.0.1:6443", "K8S_AUTH_API_KEY": "tok-123", "K8S_AUTH_VERIFY_SSL": "false",
       "K8S_AUTH_SSL_CA_CERT": "/etc/ca.pem"}


def test_awx_bearer_token_environment_fills_missing_options():
    cfg = build_configuration({"kubeconfig": None, "host": None}, environ=AWX)
    assert cfg.host == "https://10.0.0.1:6443"
    assert cfg.api_key == {"authorization": "Bearer tok-123"}
    assert cfg.verify_ssl is False and cfg.ssl_ca_cert == "/etc/ca.pem"


def test_explicit_options_win_over_the_environment():
    params = connection_params({"host": "https://other:443", "api_key": "mine", "validate_certs": True}, AWX)
    assert params["host"] == "https://other:443" and params["api_key"] == "mine" and params["validate_certs"] is True


def test_an_explicit_kubeconfig_is_not_replaced_by_the_environments_host(tmp_path):
    params = connection_params({"kubeconfig": str(tmp_path / "kc")}, AWX)
    assert params.get("host") is None
    with pytest.raises(ConnectionConfigError, match="kc does not exist"):
        build_configuration({"kubeconfig": str(tmp_path / "kc")}, environ=AWX)


@pytest.mark.parametrize("text,expected", [("true", True), ("1", True), ("no", False), ("0", False), ("False", False)])
def test_verify_ssl_environment_values(text, expected):
    assert connection_params({}, {"K8S_AUTH_VERIFY_SSL": text})["validate_certs"] is expected


def test_no_host_and_no_kubeconfig_names_the_missing_file(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "missing")}
    with pytest.raises(ConnectionConfigError, match="missing does not exist"):
        build_configuration({}, environ=env)
