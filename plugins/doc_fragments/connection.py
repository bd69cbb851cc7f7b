# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every module that talks to the Kubernetes API."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. Defaults to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then C(~/.kube/config).
        A colon-separated list of files is merged as C(kubectl) merges it.
      - The collection reads the server, its CA (C(certificate-authority) or C(certificate-authority-data)),
        C(insecure-skip-tls-verify), C(tls-server-name), client certificates, C(token), C(tokenFile), basic auth and
        C(exec) credential plugins itself. A kubeconfig using anything else (for example C(auth-provider)) is loaded
        by the python C(kubernetes) package.
    type: path
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
    type: str
  host:
    description:
      - URL of the API server; when set, the kubeconfig is not read.
      - Defaults to E(K8S_AUTH_HOST) when O(kubeconfig) is not given (an AWX bearer-token credential sets it).
    type: str
  api_key:
    description:
      - A bearer token for the API server. Defaults to E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Defaults to E(K8S_AUTH_VERIFY_SSL), else what the
        kubeconfig says.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA bundle for the API server's certificate. Defaults to E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate. Defaults to E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the client certificate's key. Defaults to E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  request_timeout:
    description:
      - Seconds to wait for one API request.
    type: float
    default: 30.0
requirements:
  - PyYAML (python)
  - kubernetes (python) >= 31.0.0, only for a kubeconfig using C(auth-provider), C(proxy-url) or another part the
    collection does not read itself
"""
