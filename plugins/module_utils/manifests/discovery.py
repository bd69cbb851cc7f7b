# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery results kept between module runs, as kubectl keeps them (``~/.kube/cache/discovery``, 6 hours).

Without it, every run of the apply step asks the API server once per group/version where each kind lives (9
requests for production's 34 objects), on top of the GET and PATCH per object. The cache holds only what
discovery returns for the kinds (plural, namespaced), per API server URL, in a file under
``${SUPERTODO_DISCOVERY_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/supertodo/discovery}`` (mode 0600); set
``SUPERTODO_DISCOVERY_CACHE_DIR=off`` to switch it off.

A cached entry is trusted only as far as the API server confirms it: a GET that answers 200 at the cached URL
proves it; a GET that answers 404 might mean the group/version is no longer served, so that group/version is
discovered again (one request, what a run without the cache pays) before the object is created.

``cluster_crds`` reads the CustomResourceDefinitions the cluster serves (one LIST per run), for validating custom
resources when no schema directory is given; the same answer tells where each custom kind lives, so it also fills
the client's discovery table (no discovery request for those group/versions afterwards).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import CrdsUnavailable

TTL = 6 * 3600
VERSION = 1
CRD_LIST_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def cluster_crds(client):
    """The CRD documents the cluster serves (one request), recorded in ``client._resources`` as discovery would.

    Raises ``CrdsUnavailable`` when the cluster refuses to list them (401/403: a credential without cluster-wide
    read access) or does not serve ``apiextensions.k8s.io/v1``; other API errors propagate."""
    try:
        answer = client.request("GET", CRD_LIST_PATH)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise CrdsUnavailable("the cluster's CRDs cannot be read: %s" % exc) from exc
        raise
    docs = []
    table = getattr(client, "_resources", None)
    for item in (answer or {}).get("items") or []:
        if not isinstance(item, dict):
            continue
        item.setdefault("kind", "CustomResourceDefinition")
        docs.append(item)
        spec = item.get("spec") or {}
        names = spec.get("names") or {}
        if table is None or not names.get("kind") or not names.get("plural"):
            continue
        for ver in spec.get("versions") or []:
            if ver.get("served"):
                key = ("%s/%s" % (spec.get("group"), ver.get("name")), names["kind"])
                table.setdefault(key, (names["plural"], spec.get("scope") == "Namespaced"))
    return docs


def default_dir(environ=None):
    environ = os.environ if environ is None else environ
    override = environ.get("SUPERTODO_DISCOVERY_CACHE_DIR")
    if override is not None:
        return None if override.strip().lower() in ("", "off", "0", "false", "no") else override
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "supertodo", "discovery")


class DiscoveryCache:
    """Seeds a ``KubeClient``'s per-process discovery table from disk and writes it back after the run."""

    def __init__(self, directory, server, ttl=TTL, clock=time.time):
        self.directory = directory
        self.server = server or ""
        self.ttl = ttl
        self.clock = clock
        self.unconfirmed = set()     # group/versions seeded from disk and not yet confirmed by the server
        self.rechecked = set()
        self._loaded = {}

    @classmethod
    def for_client(cls, client, environ=None):
        """The cache of the client's API server, or ``None`` when switched off or the client has no table."""
        directory = default_dir(environ)
        if not directory or not hasattr(client, "_resources"):
            return None
        return cls(directory, getattr(getattr(client, "configuration", None), "host", ""))

    @property
    def path(self):
        key = hashlib.sha256(self.server.encode("utf-8")).hexdigest()[:24]
        return os.path.join(self.directory, "%s.json" % key)

    def _read(self):
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("server") != self.server:
            return {}
        if not isinstance(data.get("written"), (int, float)) or self.clock() - data["written"] > self.ttl:
            return {}
        groups = data.get("groups")
        return groups if isinstance(groups, dict) else {}

    def load(self, client):
        """Put the cached kinds into ``client._resources`` (never over what this process already discovered)."""
        self._loaded = self._read()
        for api_version, kinds in self._loaded.items():
            if any(key[0] == api_version for key in client._resources):
                continue
            for kind, (plural, namespaced) in kinds.items():
                client._resources[(api_version, kind)] = (plural, bool(namespaced))
            self.unconfirmed.add(api_version)
        return len(self.unconfirmed)

    def confirm(self, api_version):
        self.unconfirmed.discard(api_version)

    def recheck(self, client, api_version, kind):
        """A cached group/version met a 404: forget it and resolve ``kind`` by a fresh discovery request (raises
        the client's clear error when the group/version or kind is not served)."""
        if api_version not in self.unconfirmed:
            return False
        self.unconfirmed.discard(api_version)
        self.rechecked.add(api_version)
        for key in [k for k in client._resources if k[0] == api_version]:
            del client._resources[key]
        client.resource(api_version, kind)
        return True

    def save(self, client):
        """Write the client's table back when it holds something the file does not; errors are ignored (the cache
        only saves requests)."""
        groups = {}
        for (api_version, kind), (plural, namespaced) in client._resources.items():
            groups.setdefault(api_version, {})[kind] = [plural, bool(namespaced)]
        merged = {gv: kinds for gv, kinds in self._loaded.items() if gv not in self.rechecked}
        merged.update(groups)
        if merged == self._loaded:
            return False
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".discovery-")
            with os.fdopen(fd, "w") as fh:
                json.dump({"version": VERSION, "server": self.server, "written": self.clock(), "groups": merged}, fh)
            os.replace(tmp, self.path)
        except OSError:
            return False
        return True
