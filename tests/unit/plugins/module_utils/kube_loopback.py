# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny API server on 127.0.0.1 for the client's unit tests: real sockets, real TLS, a handful of routes.

Certificates come from the ``cryptography`` package: one CA, a server certificate for 127.0.0.1, a server
certificate for the name ``kube.test`` only (for ``tls-server-name``), and a client certificate (CN ``tester``).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject, issuer_name, issuer_key, key, sans=None, ca=False, client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """PEM bytes: ``ca``, ``server_cert``/``server_key``, ``named_cert``/``named_key``, ``client_cert``/``client_key``."""

    def __init__(self, directory):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _cert("test-ca", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")]), ca_key, ca_key,
                        ca=True)
        self.ca = ca_cert.public_bytes(serialization.Encoding.PEM)
        pairs = {
            "server": ("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], False),
            "named": ("kube.test", [x509.DNSName("kube.test")], False),
            "client": ("tester", None, True),
        }
        self.dir = directory
        for name, (cn, sans, client) in pairs.items():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _cert(cn, ca_cert.subject, ca_key, key, sans=sans, client=client)
            setattr(self, name + "_cert", cert.public_bytes(serialization.Encoding.PEM))
            setattr(self, name + "_key", _pem_key(key))
        for name in ("ca", "server_cert", "server_key", "named_cert", "named_key", "client_cert", "client_key"):
            (directory / (name + ".pem")).write_bytes(getattr(self, name))

    def path(self, name):
        return str(self.dir / (name + ".pem"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.server.connections += 1

    def _send(self, status, body, content_type="application/json", close=False):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body=None):
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        subject = dict(x[0] for x in cert["subject"]) if cert else {}
        self.server.seen.append({"method": self.command, "path": self.path, "headers": self.headers,
                                 "body": body, "client_cn": subject.get("commonName")})

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._record()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if self.server.drop_next:
            self.server.drop_next = False
            self.close_connection = True     # a dropped idle connection: no answer at all
            return
        if url.path == "/version":
            self._send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
        elif url.path == "/drop-after":
            self.server.drop_next = True
            self._send(200, {"ok": True})
        elif url.path == "/close-after":
            self._send(200, {"ok": True})
            self.close_connection = True
        elif url.path == "/slow":
            time.sleep(1.5)
            self._send(200, {})
        elif url.path == "/boom":
            self._send(500, b"plain failure", content_type="text/plain")
        elif url.path == "/api/v1":
            self._send(200, {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
                                           {"name": "secrets", "kind": "Secret", "namespaced": True}]})
        elif url.path.startswith("/api/v1/namespaces/demo/configmaps") and query.get("watch") == ["true"]:
            self._watch()
        elif url.path == "/api/v1/namespaces/demo/configmaps/present":
            self._send(200, {"kind": "ConfigMap", "metadata": {"name": "present"}})
        elif url.path == "/api/v1/namespaces/demo/configmaps":
            self._send(200, {"kind": "ConfigMapList", "items": [], "query": query})
        else:
            self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                             "message": "the server could not find the requested resource"})

    def do_PATCH(self):  # noqa: N802
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._record(data)
        if self.server.drop_next:
            self.server.drop_next = False
            self.close_connection = True
            return
        obj = json.loads(data)
        if obj.get("metadata", {}).get("name") == "bad":
            self._send(422, {"kind": "Status", "code": 422, "message": 'ConfigMap "bad" is invalid: data: Invalid value'})
            return
        self._send(200, obj)

    def _watch(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [{"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}},
                  {"type": "MODIFIED", "object": {"metadata": {"name": "a", "resourceVersion": "2"}}}]
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            half = len(line) // 2               # one event split over two chunks
            for part in (line[:half], line[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


class LoopbackServer:
    """``with LoopbackServer(pki, cert="server", client_ca=False) as srv:`` ``srv.url``, ``srv.seen``."""

    def __init__(self, pki=None, cert="server", client_ca=False):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []
        self.httpd.connections = 0
        self.httpd.drop_next = False
        scheme = "http"
        if pki is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki.path(cert + "_cert"), pki.path(cert + "_key"))
            if client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(pki.path("ca"))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def seen(self):
        return self.httpd.seen

    @property
    def connections(self):
        return self.httpd.connections

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
