"""A small Kubernetes REST client (TLS client certs, JSON, watch streams) for the tooling and the doubles.

The standard library only, so the doubles stay light: one HTTPS connection per call, a streaming watch.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse


class ApiError(RuntimeError):
    def __init__(self, status, reason, body):
        self.status = status
        self.reason = reason
        self.body = body
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body
        super().__init__("HTTP %s %s: %s" % (status, reason, message))


class Rest:
    def __init__(self, port, ca, cert, key, host="127.0.0.1", timeout=30):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.load_cert_chain(str(cert), str(key))

    def _conn(self, timeout=None):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                           timeout=self.timeout if timeout is None else timeout)

    def request(self, method, path, body=None, params=None, content_type="application/json", raw=False,
                timeout=None):
        if params:
            path = path + "?" + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = content_type
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise ApiError(resp.status, resp.reason, payload.decode(errors="replace"))
        if raw:
            return payload.decode(errors="replace")
        return json.loads(payload) if payload else None

    def get(self, path, **params):
        return self.request("GET", path, params=params or None)

    def watch(self, path, resource_version, timeout_seconds=300, **params):
        """Yield (type, object) events from a watch; ends when the server closes the stream."""
        params = dict(params, watch="1", resourceVersion=resource_version, timeoutSeconds=str(timeout_seconds),
                      allowWatchBookmarks="true")
        conn = self._conn(timeout=timeout_seconds + 30)
        try:
            conn.request("GET", path + "?" + urllib.parse.urlencode(params), headers={"Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status >= 400:
                raise ApiError(resp.status, resp.reason, resp.read().decode(errors="replace"))
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    event = json.loads(line)
                    yield event["type"], event["object"]
        finally:
            conn.close()
