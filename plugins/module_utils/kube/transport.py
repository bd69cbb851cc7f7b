# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) to the API server with the standard library (http.client + ssl).

One persistent connection per ``Transport`` (keep-alive); a connection the server closed while it sat idle is
replaced before the next request, and an idempotent request that meets a dropped connection is sent once more on
a new one. A streaming request (a watch) gets a connection of its own, closed when the stream is released.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import ssl
import tempfile
from urllib.parse import urlencode, urlsplit

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError

IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE"))
DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
USER_AGENT = "supertodo.platform"


class _TLSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against ``server_hostname`` (kubeconfig tls-server-name)."""

    def __init__(self, host, port, timeout, context, server_hostname):
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls_name = server_hostname

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._tls_name or self.host)


def ssl_context(cfg):
    """The client TLS context for a ``Configuration`` (CA file or data, client certificate, verification)."""
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert if cfg.verify_ssl else None,
                                     cadata=cfg.ssl_ca_data if cfg.verify_ssl else None)
    if not cfg.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, key, written = cfg.cert_file, cfg.key_file, []
    try:
        if getattr(cfg, "cert_data", None):
            cert = _private_file(cfg.cert_data, written)
        if getattr(cfg, "key_data", None):
            key = _private_file(cfg.key_data, written)
        if cert:
            ctx.load_cert_chain(cert, key or None)
    finally:
        for path in written:     # the context holds the certificate and key now: no copy stays on disk
            os.unlink(path)
    return ctx


def _private_file(data, written):
    """Write ``data`` to a new file only the user can read (``load_cert_chain`` reads files only)."""
    handle, path = tempfile.mkstemp(prefix="supertodo-kube-", suffix=".pem")
    written.append(path)
    try:
        os.write(handle, data)
    finally:
        os.close(handle)
    return path


class StreamResponse:
    """A streaming answer: ``stream(amt)`` yields the body as it arrives, ``release_conn()`` closes its connection."""

    def __init__(self, conn, resp):
        self._conn = conn
        self.response = resp
        self.status = resp.status

    def stream(self, amt=4096, decode_content=True):  # pylint: disable=unused-argument
        while True:
            chunk = self.response.read1(amt)
            if not chunk:
                return
            yield chunk

    def release_conn(self):
        self._conn.close()


class Transport:
    """Sends requests for a ``KubeClient``; ``user_agent`` may be changed (the audit log shows it)."""

    def __init__(self, cfg, timeout=30.0):
        url = urlsplit(cfg.host if "://" in cfg.host else "https://" + cfg.host)
        self.configuration = cfg
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self.user_agent = USER_AGENT
        self._context = ssl_context(cfg) if self.scheme == "https" else None
        self._conn = None

    def _new_connection(self, timeout):
        if self.scheme == "https":
            return _TLSConnection(self.host, self.port, timeout, self._context, self.configuration.tls_server_name)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _idle_connection(self, timeout):
        """The kept-alive connection, or a new one when there is none or the server has closed it meanwhile."""
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                readable = select.select([conn.sock], [], [], 0)[0]
            except (OSError, ValueError):
                readable = True
            if readable:             # an idle connection has nothing to read unless the server closed it
                self.close()
                conn = None
        if conn is None:
            conn = self._conn = self._new_connection(timeout)
            return conn, True
        fresh = conn.sock is None    # http.client reopens a connection it closed itself (Connection: close)
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        return conn, fresh

    def request(self, method, path, body=None, query=None, content_type=None, stream=False, timeout=None):
        """Decoded JSON body, or a ``StreamResponse`` when ``stream``; ``ApiError`` on an error answer."""
        timeout = timeout if timeout is not None else self.timeout
        url = self.prefix + path
        if query:
            url += "?" + urlencode(list(query.items()) if isinstance(query, dict) else list(query))
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        headers.update(self.configuration.api_key or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        else:
            data = None
            if content_type:
                headers["Content-Type"] = content_type
        conn = self._new_connection(timeout) if stream else None
        try:
            if stream:
                resp = self._send(conn, method, url, data, headers)
            else:
                resp = self._exchange(method, url, data, headers, timeout)
                payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:      # ssl.SSLError and timeouts are OSErrors
            if stream:
                conn.close()
            else:
                self.close()
            raise self._unreachable(method, path, exc) from exc
        if stream:
            if resp.status >= 300:
                try:
                    payload = resp.read()
                finally:
                    conn.close()
                raise api_error(method, path, resp.status, resp.reason, payload)
            return StreamResponse(conn, resp)
        if resp.status >= 300:
            raise api_error(method, path, resp.status, resp.reason, payload)
        return json.loads(payload) if payload else {}

    def _exchange(self, method, url, data, headers, timeout):
        conn, fresh = self._idle_connection(timeout)
        try:
            return self._send(conn, method, url, data, headers)
        except DROPPED:
            self.close()
            if fresh or method not in IDEMPOTENT:
                raise
        conn, dummy = self._idle_connection(timeout)
        return self._send(conn, method, url, data, headers)

    @staticmethod
    def _send(conn, method, url, data, headers):
        conn.request(method, url, body=data, headers=headers)
        return conn.getresponse()

    def _unreachable(self, method, path, exc):
        return ApiError("%s %s: API server %s unreachable: %s" % (method, path, self.configuration.host, exc))


def api_error(method, path, status, reason, payload):
    """The ApiError of an error answer: the status and the server's message (its Status object's ``message``)."""
    body = None
    message = reason or ""
    try:
        body = json.loads(payload) if payload else None
        if isinstance(body, dict) and body.get("message"):
            message = body["message"]
    except (TypeError, ValueError):
        pass
    return ApiError("%s %s: %s %s" % (method, path, status, message), status or 0, reason, body)
