# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake of the KubeClient object for unit tests: an in-memory store with server-side apply semantics.

Only what the apply service uses (``get``, ``patch`` with ``apply``): the sent object replaces the stored one,
the resourceVersion moves only when the stored content changes, ``dryRun`` stores nothing, and ``drop`` lists
field paths the "server" prunes (like an API server whose schema lacks them).
"""

from __future__ import annotations

import copy
import json


class FakeKube:
    def __init__(self, drop=None, missing_namespaces=False):
        self.store = {}
        self.rv = 100
        self.requests = 0
        self.calls = []
        self.drop = drop or []
        self.missing_namespaces = missing_namespaces
        self.unserved = set()

    @staticmethod
    def key(api_version, kind, name, namespace):
        return (api_version, kind, namespace or "", name)

    def get(self, api_version, kind, name, namespace=None):
        self.requests += 1
        self.calls.append(("GET", kind, name))
        obj = self.store.get(self.key(api_version, kind, name, namespace))
        return copy.deepcopy(obj) if obj else None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
        self.requests += 1
        self.calls.append(("LIST", kind, namespace))
        if api_version in self.unserved:
            raise ApiError("%s is not served by the API server (is its CRD installed?)" % api_version, 404)
        return {"items": [copy.deepcopy(obj) for (av, k, ns, dummy), obj in sorted(self.store.items())
                          if av == api_version and k == kind and (namespace is None or ns == namespace)]}

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", query=None, subresource=None):
        from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
        self.requests += 1
        self.calls.append(("PATCH", kind, name, dict(query or {})))
        assert patch_type == "apply"
        sent = json.loads(body) if isinstance(body, str) else copy.deepcopy(body)
        if self.missing_namespaces and namespace and ("v1", "Namespace", "", namespace) not in self.store:
            raise ApiError("namespaces %s not found" % namespace, 404)
        for path in self.drop:
            cur = sent
            parts = path.split(".")
            for part in parts[:-1]:
                cur = cur.get(part, {})
            cur.pop(parts[-1], None)
        key = self.key(api_version, kind, name, namespace)
        old = self.store.get(key)
        new = copy.deepcopy(sent)
        meta = new.setdefault("metadata", {})
        if old and {k: v for k, v in old.items() if k != "metadata"} == {k: v for k, v in new.items() if k != "metadata"} \
                and {k: v for k, v in old["metadata"].items() if k not in ("resourceVersion", "uid")} == meta:
            return copy.deepcopy(old)
        meta["uid"] = (old or {}).get("metadata", {}).get("uid", "uid-%s" % name)
        if (query or {}).get("dryRun"):
            meta["resourceVersion"] = (old or {}).get("metadata", {}).get("resourceVersion", "")
            return new
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.store[key] = new
        return copy.deepcopy(new)


# -- shared helpers of the manifest unit tests ----------------------------------------------------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
CHART_DIR = str(REPO / "charts" / "super-todo")


def schema_dir_or_skip():
    import pytest
    path = os.environ.get("SUPERTODO_SCHEMA_DIR") or str(REPO.parent / "shared" / "schemas")
    if not os.path.isdir(os.path.join(path, "crds")):
        pytest.skip("no schema dir with crds/ (set SUPERTODO_SCHEMA_DIR)")
    return path


def namespace(name="demo"):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name="cfg", ns="demo", data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": data or {"a": "1"}}


def secret(name="s", ns="demo", password="c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA="):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": "Opaque",
            "data": {"password": password}}


def gitrepository(**spec):
    body = {"interval": "1m", "url": "https://example.com/repo", "ref": {"branch": "main"}}
    body.update(spec)
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"}, "spec": body}


def helmrelease(chart="./charts/super-todo", values=None):
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "super-todo", "namespace": "demo"},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": chart, "sourceRef": {
                "kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}}},
                "values": values if values is not None else {}}}
