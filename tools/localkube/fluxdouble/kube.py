"""The Flux double's own Kubernetes client: a kubeconfig with client certificates (what ``localcluster up``
writes), on top of :class:`localkube.rest.Rest` (standard library only). Not the collection's client: the double
must not share code with what it tests."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import urllib.parse

import yaml

from localkube.rest import ApiError, Rest

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def _material(entry, key, workdir, name):
    """A file path for ``<key>`` or ``<key>-data`` of a kubeconfig entry (data is written to ``workdir``)."""
    if entry.get(key + "-data"):
        path = os.path.join(workdir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(base64.b64decode(entry[key + "-data"]))
        return path
    if entry.get(key):
        return entry[key]
    raise ValueError("kubeconfig has no %s" % key)


class Kube:
    """``get`` / ``list`` / ``patch`` / ``delete`` / ``watch`` by apiVersion and kind, with discovery."""

    def __init__(self, kubeconfig, timeout=30):
        with open(kubeconfig) as fh:
            config = yaml.safe_load(fh)
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self._tmp = tempfile.mkdtemp(prefix="fluxdouble-kube-")
        url = urllib.parse.urlsplit(cluster["server"])
        self.rest = Rest(url.port or 443, _material(cluster, "certificate-authority", self._tmp, "ca.crt"),
                         _material(user, "client-certificate", self._tmp, "client.crt"),
                         _material(user, "client-key", self._tmp, "client.key"), host=url.hostname,
                         timeout=timeout)
        self._resources = {}

    def request(self, method, path, body=None, query=None, content_type="application/json", timeout=None):
        return self.rest.request(method, path, body=body, params=query, content_type=content_type,
                                 timeout=timeout)

    def resource(self, api_version, kind):
        """``(plural, namespaced)`` of a kind, from one discovery request per group/version."""
        key = (api_version, kind)
        if key not in self._resources:
            path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
            try:
                found = self.request("GET", path)
            except ApiError as exc:
                if exc.status == 404:
                    raise ApiError(404, "NotFound", json.dumps(
                        {"message": "%s is not served by the API server" % api_version})) from exc
                raise
            for res in found.get("resources", []):
                if "/" not in res["name"]:
                    self._resources[(api_version, res["kind"])] = (res["name"], res["namespaced"])
            if key not in self._resources:
                raise ApiError(404, "NotFound", json.dumps(
                    {"message": "no matches for kind \"%s\" in version \"%s\"" % (kind, api_version)}))
        return self._resources[key]

    def path(self, api_version, kind, namespace=None, name=None, subresource=None):
        plural, namespaced = self.resource(api_version, kind)
        parts = ["/api/v1" if api_version == "v1" else "/apis/%s" % api_version]
        if namespaced and namespace:
            parts.append("namespaces/%s" % namespace)
        parts.append(plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)

    def get(self, api_version, kind, name, namespace=None):
        """The object, or None when it (or its kind) does not exist."""
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None):
        return self.request("GET", self.path(api_version, kind, namespace))

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", query=None, subresource=None):
        return self.request("PATCH", self.path(api_version, kind, namespace, name, subresource), body=body,
                            query=query, content_type=PATCH_TYPES[patch_type])

    def delete(self, api_version, kind, name, namespace=None):
        """True when a delete was issued, False when the object was already gone."""
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name),
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def watch(self, api_version, kind, resource_version, timeout=240, namespace=None):
        """``(type, object)`` events of a kind, cluster-wide or in one namespace."""
        return self.rest.watch(self.path(api_version, kind, namespace), resource_version, timeout_seconds=timeout)
