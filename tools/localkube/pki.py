"""The local cluster's certificates and keys, generated fresh for each state dir (never committed).

A CA; the apiserver serving cert (SANs 127.0.0.1, localhost, kubernetes.default...); client certs for the admin
(O=system:masters), the controller-manager, the scheduler and each node of the kubelet double
(CN=system:node:<name>, O=system:nodes, so that the Node authorizer applies); the service-account key pair.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_IP = "10.0.0.1"
API_SANS_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local")
API_SANS_IP = ("127.0.0.1", SERVICE_IP)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(cn, org=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _now():
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)


class PKI:
    """Files under ``<state>/pki``: ca.crt/ca.key, apiserver.*, sa.key/sa.pub and one cert per client."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def path(self, name):
        return self.dir / name

    def ensure(self, clients):
        """Generate whatever is missing. ``clients``: {name: (common name, organization or None)}."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not self.path("ca.crt").exists():
            self._ca()
        ca_key = serialization.load_pem_private_key(self.path("ca.key").read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(self.path("ca.crt").read_bytes())
        if not self.path("apiserver.crt").exists():
            sans = [x509.DNSName(d) for d in API_SANS_DNS] + [x509.IPAddress(ipaddress.ip_address(i))
                                                              for i in API_SANS_IP]
            self._leaf("apiserver", _name("kube-apiserver"), ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH, sans)
        for name, (cn, org) in clients.items():
            if not self.path(name + ".crt").exists():
                self._leaf(name, _name(cn, org), ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
        if not self.path("sa.key").exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write_key(self.path("sa.key"), key)
            self.path("sa.pub").write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _ca(self):
        key = _key()
        name = _name("supertodo-localcluster-ca")
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(_now())
                .not_valid_after(_now() + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        _write_key(self.path("ca.key"), key)
        self.path("ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _leaf(self, fname, subject, ca_cert, ca_key, usage, sans=None):
        key = _key()
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(_now()).not_valid_after(_now() + datetime.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(self.path(fname + ".key"), key)
        self.path(fname + ".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def kubeconfig(self, path: Path, client: str, server: str, user: str, context="supertodo-local"):
        """Write a kubeconfig for ``client`` (certs embedded, so the file stands alone)."""
        def b64(name):
            return base64.b64encode(self.path(name).read_bytes()).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
            "clusters": [{"name": "supertodo-local", "cluster": {"server": server,
                                                                 "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate-data": b64(client + ".crt"),
                                              "client-key-data": b64(client + ".key")}}],
            "contexts": [{"name": context, "context": {"cluster": "supertodo-local", "user": user}}],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path
