# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a kubeconfig the way kubectl does, with the standard library and PyYAML only.

Supported: the server, its CA (file or data), ``insecure-skip-tls-verify``, ``tls-server-name``; client
certificates (file or data), a token or token file, basic auth, and ``exec`` credential plugins
(``client.authentication.k8s.io/v1`` and ``v1beta1``). Relative paths resolve from the folder of the kubeconfig
file that names them. A colon-separated list of files is merged as kubectl merges it (the first file that sets a
value wins). Anything else (``auth-provider``, ``proxy-url``, ...) raises ``Unsupported``: the caller then uses
the ``kubernetes`` package, which knows more of them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ConnectionConfigError
from ansible_collections.supertodo.platform.plugins.module_utils.yaml_safe import error_where, safe_loader

CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                "tls-server-name", "extensions", "disable-compression"}
USER_KEYS = {"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "tokenFile",
             "username", "password", "exec", "extensions"}
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


class Unsupported(Exception):
    """The kubeconfig uses something this reader does not implement (the message says what)."""


class Configuration:
    """Where and how to reach the API server; the attribute names follow ``kubernetes.client.Configuration``."""

    def __init__(self, host=None):
        self.host = host
        self.api_key = {}               # {"authorization": "Bearer ..." or "Basic ..."}
        self.ssl_ca_cert = None         # a CA bundle file
        self.ssl_ca_data = None         # or its PEM text
        self.cert_file = None
        self.key_file = None
        self.cert_data = None           # PEM bytes of a client certificate given as data (kubeconfig or exec plugin)
        self.key_data = None
        self.verify_ssl = True
        self.tls_server_name = None
        self.kubeconfig = None          # the file (or list) read, for messages
        self.context = None


def kubeconfig_files(spec):
    """The files of a kubeconfig option or KUBECONFIG value (a colon-separated list; empty parts skipped)."""
    return [os.path.expanduser(part) for part in spec.split(os.pathsep) if part]


def _read(path):
    """The mapping of one kubeconfig file; raises OSError, or ValueError saying why it is not a kubeconfig (a YAML
    error by its position only: the file holds credentials)."""
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # pragma: no cover - PyYAML comes with ansible-core
        raise Unsupported("PyYAML is not installed (%s)" % exc) from exc
    with open(path, "rb") as handle:
        try:
            doc = yaml.load(handle, Loader=safe_loader())  # nosec B506 - a safe loader
        except yaml.YAMLError as exc:
            raise ValueError("not valid YAML" + error_where(exc)) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError("not a kubeconfig (a %s, not a mapping)" % type(doc).__name__)
    return doc


def contexts(path):
    """(context names, current-context or "") of one kubeconfig file: names only, nothing the file holds besides.

    Raises OSError, or ValueError saying why the file is not a kubeconfig.
    """
    doc = _read(path)
    items = doc.get("contexts") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("not a kubeconfig (contexts is not a list of mappings)")
    current = doc.get("current-context")
    return [str(item["name"]) for item in items if item.get("name") is not None], "" if current is None else str(current)


def _merge(files):
    """(current-context, {section: {name: (entry, folder)}}) from the files, the first definition winning."""
    current = None
    named = {"clusters": {}, "users": {}, "contexts": {}}
    for path in files:
        doc = _read(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not current and doc.get("current-context"):
            current = doc["current-context"]
        for section, table in named.items():
            for item in doc.get(section) or []:
                if isinstance(item, dict) and item.get("name") is not None and item["name"] not in table:
                    table[item["name"]] = (item.get(section[:-1]) or {}, folder)
    return current, named


def load(spec, context=None, environ=None):
    """A ``Configuration`` from the kubeconfig ``spec`` (one file or a colon list) and ``context``.

    Raises ``ConnectionConfigError`` naming the file and the context, or ``Unsupported``.
    """
    environ = os.environ if environ is None else environ
    files = kubeconfig_files(spec)
    existing = [path for path in files if os.path.isfile(path)]
    if not existing:
        raise ConnectionConfigError("kubeconfig %s does not exist (set kubeconfig or KUBECONFIG)" % spec)
    label = ":".join(existing)
    try:
        current, named = _merge(existing)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConnectionConfigError("kubeconfig %s cannot be read: %s" % (label, exc)) from exc
    except Exception as exc:  # anything else the parser raises, without importing yaml here
        raise ConnectionConfigError("kubeconfig %s cannot be read: %s" % (label, exc)) from exc
    name = context or current

    def fail(message):
        return ConnectionConfigError("kubeconfig %s, context %s: %s" % (label, name or "(current)", message))

    if not name:
        raise fail("no context given and no current-context set")
    if name not in named["contexts"]:
        raise fail("no such context (the file has: %s)" % (", ".join(sorted(named["contexts"])) or "none"))
    ctx = named["contexts"][name][0]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in named["clusters"]:
        raise fail("cluster %s is not defined" % cluster_name)
    cluster, cluster_dir = named["clusters"][cluster_name]
    user, user_dir = named["users"].get(user_name, ({}, None))
    if user_name and user_name not in named["users"]:
        raise fail("user %s is not defined" % user_name)
    extra = sorted(set(cluster) - CLUSTER_KEYS) + sorted(set(user) - USER_KEYS)
    if extra:
        raise Unsupported(", ".join(extra))
    if not cluster.get("server"):
        raise fail("cluster %s has no server" % cluster_name)

    cfg = Configuration(str(cluster["server"]).rstrip("/"))
    cfg.kubeconfig, cfg.context = label, name
    try:
        _cluster_tls(cfg, cluster, cluster_dir)
        _credentials(cfg, user, user_dir, cluster, environ, fail)
    except (OSError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
    return cfg


def _path(value, folder):
    value = os.path.expanduser(str(value))
    return value if os.path.isabs(value) else os.path.join(folder, value)


def _data(value, what):
    try:
        return base64.b64decode(value, validate=False)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s is not base64: %s" % (what, exc)) from None


def _cluster_tls(cfg, cluster, folder):
    if cluster.get("certificate-authority-data"):
        cfg.ssl_ca_data = _data(cluster["certificate-authority-data"], "certificate-authority-data").decode("ascii")
    elif cluster.get("certificate-authority"):
        cfg.ssl_ca_cert = _path(cluster["certificate-authority"], folder)
        if not os.path.isfile(cfg.ssl_ca_cert):
            raise ValueError("certificate-authority %s does not exist" % cfg.ssl_ca_cert)
    if "insecure-skip-tls-verify" in cluster:
        cfg.verify_ssl = not cluster["insecure-skip-tls-verify"]
    if cluster.get("tls-server-name"):
        cfg.tls_server_name = str(cluster["tls-server-name"])


def _credentials(cfg, user, folder, cluster, environ, fail):
    for kind, attr in (("certificate", "cert"), ("key", "key")):
        if user.get("client-%s-data" % kind):
            setattr(cfg, attr + "_data", _data(user["client-%s-data" % kind], "client-%s-data" % kind))
        elif user.get("client-%s" % kind):
            setattr(cfg, attr + "_file", _path(user["client-%s" % kind], folder))
    if user.get("exec"):
        token = run_exec(cfg, user["exec"], folder, cluster, environ, fail)
    elif user.get("token"):
        token = str(user["token"]).strip()
    elif user.get("tokenFile"):
        with open(_path(user["tokenFile"], folder), encoding="utf-8") as handle:
            token = handle.read().strip()
    else:
        token = None
    if token:
        cfg.api_key = {"authorization": "Bearer %s" % token}
    elif user.get("username") is not None and user.get("password") is not None:
        pair = ("%s:%s" % (user["username"], user["password"])).encode("utf-8")
        cfg.api_key = {"authorization": "Basic %s" % base64.b64encode(pair).decode("ascii")}


def run_exec(cfg, spec, folder, cluster, environ, fail):
    """Run an exec credential plugin; returns its token, or sets ``cfg.cert_data``/``key_data`` from it."""
    api_version = spec.get("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise Unsupported("exec apiVersion %s" % api_version)
    command = str(spec.get("command") or "")
    if not command:
        raise fail("the exec plugin names no command")
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(folder, command)
    env = dict(environ)
    for item in spec.get("env") or []:
        env[str(item["name"])] = str(item["value"])
    info = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo"):
        info["spec"]["cluster"] = {"server": cluster.get("server"),
                                   "certificate-authority-data": cluster.get("certificate-authority-data"),
                                   "insecure-skip-tls-verify": cluster.get("insecure-skip-tls-verify", False),
                                   "tls-server-name": cluster.get("tls-server-name")}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    argv = [command] + [str(arg) for arg in spec.get("args") or []]
    try:
        proc = subprocess.run(argv, env=env, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise fail("exec plugin %s cannot run: %s" % (command, exc)) from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise fail("exec plugin %s failed (exit %d): %s" % (command, proc.returncode, stderr or "(no output)"))
    try:
        status = json.loads(proc.stdout)["status"]
    except (ValueError, KeyError, TypeError) as exc:
        raise fail("exec plugin %s did not print an ExecCredential with a status: %s" % (command, exc)) from exc
    if status.get("token"):
        return str(status["token"]).strip()
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        cfg.cert_file = cfg.key_file = None
        cfg.cert_data = status["clientCertificateData"].encode("utf-8")
        cfg.key_data = status["clientKeyData"].encode("utf-8")
        return None
    raise fail("exec plugin %s returned neither a token nor clientCertificateData/clientKeyData" % command)
