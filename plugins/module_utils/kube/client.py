# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small, fast Kubernetes REST client.

It speaks plain REST (GET/LIST/WATCH/PATCH) over one kept-alive HTTPS connection (``transport``, the standard
library) with the credentials of a kubeconfig read by ``kubeconfig`` (PyYAML), and resolves a kind to its URL with
a discovery request per API group/version, cached for the life of the process, so that a module run costs one
request per object rather than a full discovery of the cluster. A kubeconfig using something that reader does not
implement (``auth-provider``, ``proxy-url``, ...) is loaded by the official ``kubernetes`` package instead, and its
requests go through ``kubernetes.client.ApiClient``: that package is imported only then.
"""

from __future__ import annotations

import http.client
import json
import os

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import (
    ApiError,
    ConnectionConfigError,
)
from ansible_collections.supertodo.platform.plugins.module_utils.kube.kubeconfig import (
    Configuration,
    Unsupported,
    kubeconfig_files,
    load as load_kubeconfig,
)
from ansible_collections.supertodo.platform.plugins.module_utils.kube.transport import Transport, api_error


def _kubernetes(kubeconfig=None, context=None, why=None):
    """The ``kubernetes`` package, imported on first use (it takes about half a second)."""
    try:
        import kubernetes  # pylint: disable=import-outside-toplevel
        import kubernetes.client  # pylint: disable=import-outside-toplevel
        import kubernetes.config  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ConnectionConfigError("kubeconfig %s, context %s uses %s, which needs the python 'kubernetes' package: %s"
                                    % (kubeconfig, context or "(current)", why, exc)) from exc
    return kubernetes


# Options that, when not given, are read from the environment as kubernetes.core's modules read them (an AWX
# bearer-token credential injects K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL, K8S_AUTH_SSL_CA_CERT).
ENV_FALLBACK = {
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "client_cert": "K8S_AUTH_CERT_FILE",
    "client_key": "K8S_AUTH_KEY_FILE",
}


def connection_params(params, environ=None):
    """The module's connection options, each missing one filled from its K8S_AUTH_* environment variable.

    An explicit ``kubeconfig`` option keeps the kubeconfig in charge: the environment's host is then not used.
    """
    environ = os.environ if environ is None else environ
    out = dict(params)
    for option, variable in ENV_FALLBACK.items():
        if out.get(option) in (None, "") and environ.get(variable):
            if option == "host" and out.get("kubeconfig"):
                continue
            value = environ[variable]
            if option == "validate_certs":
                value = value.strip().lower() not in ("0", "false", "no", "off")
            out[option] = value
    return out


def build_configuration(params, environ=None):
    """Return the connection ``Configuration`` from the module's connection options.

    Precedence follows kubernetes.core: explicit options, then the ``K8S_AUTH_*`` environment; a ``host`` (option
    or ``K8S_AUTH_HOST``) means no kubeconfig is read; otherwise ``kubeconfig`` (or the ``K8S_AUTH_KUBECONFIG`` /
    ``KUBECONFIG`` environment; a colon-separated list is merged), with ``context`` selecting the context. A
    kubeconfig this collection cannot read itself gives a ``kubernetes.client.Configuration`` instead.
    """
    environ = os.environ if environ is None else environ
    params = connection_params(params, environ)
    kubeconfig = params.get("kubeconfig") or environ.get("K8S_AUTH_KUBECONFIG") or environ.get("KUBECONFIG")
    context = params.get("context") or environ.get("K8S_AUTH_CONTEXT")
    if params.get("host"):
        cfg = Configuration(params["host"])
    else:
        kubeconfig = ":".join(kubeconfig_files(kubeconfig or "~/.kube/config"))
        try:
            cfg = load_kubeconfig(kubeconfig, context, environ)
        except Unsupported as exc:
            cfg = _kubernetes_configuration(kubeconfig, context, str(exc))
    if params.get("api_key"):
        cfg.api_key = {"authorization": "Bearer %s" % params["api_key"]}
        cfg.refresh_api_key_hook = None
    if params.get("ca_cert"):
        cfg.ssl_ca_cert = params["ca_cert"]
        if isinstance(cfg, Configuration):
            cfg.ssl_ca_data = None
    if params.get("client_cert"):
        cfg.cert_file = params["client_cert"]
        if isinstance(cfg, Configuration):
            cfg.cert_data = None
    if params.get("client_key"):
        cfg.key_file = params["client_key"]
        if isinstance(cfg, Configuration):
            cfg.key_data = None
    if params.get("validate_certs") is not None:
        cfg.verify_ssl = params["validate_certs"]
    return cfg


def _kubernetes_configuration(kubeconfig, context, why):
    """The kubeconfig loaded by the ``kubernetes`` package (for what ``kubeconfig.load`` does not implement)."""
    kubernetes = _kubernetes(kubeconfig, context, why)
    cfg = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    except kubernetes.config.ConfigException as exc:
        raise ConnectionConfigError("kubeconfig %s, context %s: %s" % (kubeconfig, context or "(current)", exc)) from exc
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ConnectionConfigError("kubeconfig %s cannot be read: %s" % (kubeconfig, exc)) from exc
    return cfg


class KubeClient:
    """REST access to the API server: ``get``, ``list``, ``patch``, ``watch`` by apiVersion and kind."""

    def __init__(self, params):
        self.configuration = build_configuration(params)
        self.timeout = params.get("request_timeout") or 30.0
        self._resources = {}
        self.requests = 0
        self._stream_errors = (OSError, http.client.HTTPException)
        if isinstance(self.configuration, Configuration):
            self.api = Transport(self.configuration, self.timeout)
        else:
            kubernetes = _kubernetes()
            from urllib3.exceptions import HTTPError  # pylint: disable=import-outside-toplevel
            self.api = kubernetes.client.ApiClient(self.configuration)
            self._stream_errors += (HTTPError,)

    # -- low level ---------------------------------------------------------------------------------
    def request(self, method, path, body=None, query=None, content_type=None, stream=False, timeout=None):
        """One HTTP request; returns the decoded JSON body (or the response when ``stream``: ``resp.stream()``,
        ``resp.release_conn()``)."""
        self.requests += 1
        timeout = timeout if timeout is not None else self.timeout
        if isinstance(self.api, Transport):
            return self.api.request(method, path, body=body, query=query, content_type=content_type, stream=stream,
                                    timeout=timeout)
        return self._call_api(method, path, body, query, content_type, stream, timeout)

    def _call_api(self, method, path, body, query, content_type, stream, timeout):
        """The request through ``kubernetes.client.ApiClient`` (a kubeconfig only that package reads)."""
        from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.api.call_api(
                path, method,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as exc:
            raise api_error(method, path, exc.status, exc.reason, exc.body) from exc
        except self._stream_errors as exc:
            raise ApiError("%s %s: API server %s unreachable: %s" % (method, path, self.configuration.host, exc)) from exc
        if stream:
            return resp
        data = resp.data
        return json.loads(data) if data else {}

    # -- discovery -----------------------------------------------------------------------------------
    def resource(self, api_version, kind):
        """Return ``(plural, namespaced)`` for a kind, using one discovery request per group/version."""
        key = (api_version, kind)
        if key not in self._resources:
            path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
            try:
                found = self.request("GET", path)
            except ApiError as exc:
                if exc.status == 404:
                    raise ApiError("%s is not served by the API server (is its CRD installed?)" % api_version, 404) from exc
                raise
            for res in found.get("resources", []):
                if "/" not in res["name"]:
                    self._resources[(api_version, res["kind"])] = (res["name"], res["namespaced"])
            if key not in self._resources:
                raise ApiError("kind %s is not served in %s" % (kind, api_version), 404)
        return self._resources[key]

    def path(self, api_version, kind, namespace=None, name=None, subresource=None):
        plural, namespaced = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        parts = [base]
        if namespaced and namespace:
            parts.append("namespaces/%s" % namespace)
        parts.append(plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)

    # -- verbs -----------------------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        """The object, or ``None`` when it does not exist."""
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None):
        query = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", self.path(api_version, kind, namespace), query=query)

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", query=None, subresource=None):
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml",
        }[patch_type]
        # the kubernetes client JSON-encodes the body of every JSON or apply-patch request itself: hand it the
        # object, so that it is encoded once (a pre-encoded string would arrive as a JSON string)
        payload = json.loads(body) if isinstance(body, (bytes, str)) else body
        return self.request("PATCH", self.path(api_version, kind, namespace, name, subresource), body=payload,
                            query=query, content_type=content_type)

    def watch(self, api_version, kind, namespace=None, name=None, resource_version=None, timeout=60):
        """Yield ``(type, object)`` events; ends when the server closes the watch or ``timeout`` passes."""
        query = {"watch": "true", "timeoutSeconds": str(max(1, int(timeout)))}
        if name:
            query["fieldSelector"] = "metadata.name=%s" % name
        if resource_version:
            query["resourceVersion"] = resource_version
            query["allowWatchBookmarks"] = "true"
        resp = self.request("GET", self.path(api_version, kind, namespace), query=query, stream=True,
                            timeout=timeout + 5)
        buf = b""
        try:
            for chunk in resp.stream(4096, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        yield event.get("type"), event.get("object", {})
        except self._stream_errors as exc:
            raise ApiError("watch %s %s: connection lost: %s" % (kind, name or "", exc)) from exc
        finally:
            resp.release_conn()
