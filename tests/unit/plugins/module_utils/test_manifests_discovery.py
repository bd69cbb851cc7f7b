"""The discovery cache of the apply step: a warm no-op run costs exactly a GET and a PATCH per object; a cached
group/version is trusted only as far as the server confirms it."""

from __future__ import annotations

import copy
import json
import os
import stat
import types

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests import discovery
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.apply import Applier
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.discovery import DiscoveryCache
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import ApplyFailed
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import apply_manifests

from manifests_fakes import configmap, gitrepository, namespace, schema_dir_or_skip

SERVED = {
    "v1": [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True)],
    "source.toolkit.fluxcd.io/v1": [("GitRepository", "gitrepositories", True)],
}
HOST = "https://10.0.0.1:6443"


class ServedKube(KubeClient):
    """The real KubeClient (its discovery table, URLs and 404 handling) over an in-memory API server."""

    def __init__(self, served, objects=None, host=HOST):  # pylint: disable=super-init-not-called
        self.configuration = types.SimpleNamespace(host=host)
        self.timeout = 30
        self._resources = {}
        self.requests = 0
        self.log = []
        self.served = served
        self.objects = {} if objects is None else objects
        self.rv = 1

    def _gv_plural(self, path):
        parts = path.strip("/").split("/")
        gv = "v1" if parts[0] == "api" else "/".join(parts[1:3])
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        if rest[:1] == ["namespaces"] and len(rest) > 2:
            rest = rest[2:]
        return gv, rest

    def request(self, method, path, body=None, query=None, content_type=None, stream=False, timeout=None):
        self.requests += 1
        self.log.append((method, path))
        gv, rest = self._gv_plural(path)
        if not rest:        # discovery of one group/version
            if gv not in self.served:
                raise ApiError("GET %s: 404 the server could not find the requested resource" % path, 404)
            return {"resources": [{"name": p, "kind": k, "namespaced": n} for k, p, n in self.served[gv]]}
        if rest[0] not in [p for _k, p, _n in self.served.get(gv, [])]:
            raise ApiError("%s %s: 404 the server could not find the requested resource" % (method, path), 404)
        if method == "GET":
            if path not in self.objects:
                raise ApiError("GET %s: 404 not found" % path, 404)
            return copy.deepcopy(self.objects[path])
        new = copy.deepcopy(body)
        old = self.objects.get(path)
        if old is not None and {k: v for k, v in old.items() if k != "metadata"} == \
                {k: v for k, v in new.items() if k != "metadata"}:
            return copy.deepcopy(old)
        if (query or {}).get("dryRun"):
            return new
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[path] = new
        return copy.deepcopy(new)


def _entries(*objs):
    return [{"path": "f.yaml", "object": o} for o in objs]


OBJECTS = (namespace(), configmap(), configmap("other"), gitrepository())


def _run(cache_dir, objects, served=None, check_mode=False, clock=None, host=HOST):
    kube = ServedKube(SERVED if served is None else served, objects, host=host)
    cache = DiscoveryCache(str(cache_dir), host, **({"clock": clock} if clock else {}))
    cache.load(kube)
    try:
        results = Applier(kube, "m", check_mode=check_mode, discovery=cache).apply(_entries(*OBJECTS))
    finally:
        cache.save(kube)
    return kube, results


def _discovery_requests(kube):
    return [p for _m, p in kube.log if p in ("/api/v1",) or p.count("/") == 3 and p.startswith("/apis/")]


def test_warm_no_op_costs_one_get_and_one_patch_per_object_and_no_discovery(tmp_path):
    store = {}
    cold, dummy = _run(tmp_path, store)                       # first converge: discovery of both group/versions
    assert len(_discovery_requests(cold)) == 2
    noop_cold = ServedKube(SERVED, store)                 # no-op without a cache: 2 per object + discovery
    Applier(noop_cold, "m").apply(_entries(*OBJECTS))
    assert noop_cold.requests == 2 * len(OBJECTS) + 2
    warm, results = _run(tmp_path, store)
    assert not any(r["changed"] for r in results)
    assert _discovery_requests(warm) == []
    assert warm.requests == 2 * len(OBJECTS)
    # every object is read first (the conflict pass), then applied
    assert [m for m, _p in warm.log] == ["GET"] * len(OBJECTS) + ["PATCH"] * len(OBJECTS)


def test_cache_file_is_private_and_holds_only_kind_names(tmp_path):
    store = {}
    _run(tmp_path, store)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    data = json.loads(files[0].read_text())
    assert data["server"] == HOST
    assert data["groups"] == {"v1": {"Namespace": ["namespaces", False], "ConfigMap": ["configmaps", True]},
                              "source.toolkit.fluxcd.io/v1": {"GitRepository": ["gitrepositories", True]}}
    assert "cfg" not in files[0].read_text()


def test_a_cached_group_version_meeting_a_404_is_discovered_again_before_the_create(tmp_path):
    _run(tmp_path, {})
    fresh, results = _run(tmp_path, {})                   # a new, empty cluster at the same URL
    assert [r["action"] for r in results] == ["create"] * len(OBJECTS)
    # one discovery request per group/version (as without a cache), then never again in that run
    assert sorted(_discovery_requests(fresh)) == ["/api/v1", "/apis/source.toolkit.fluxcd.io/v1"]


def test_a_crd_removed_since_the_cache_was_written_fails_naming_it(tmp_path):
    _run(tmp_path, {})
    without_flux = {"v1": SERVED["v1"]}
    with pytest.raises(ApplyFailed, match=r"GitRepository flux-system/flux-system.*source.toolkit.fluxcd.io/v1 is not "
                                          r"served by the API server \(is its CRD installed\?\)"):
        _run(tmp_path, {}, served=without_flux)
    # the file no longer claims the group/version
    data = json.loads(next(tmp_path.iterdir()).read_text())
    assert "source.toolkit.fluxcd.io/v1" not in data["groups"]


def test_check_mode_with_a_stale_entry_predicts_the_create(tmp_path):
    _run(tmp_path, {})
    kube, results = _run(tmp_path, {}, served={"v1": SERVED["v1"]}, check_mode=True)
    assert results[-1]["action"] == "create" and results[-1]["changed"]
    assert kube.objects == {}


def test_expired_foreign_or_broken_cache_is_ignored(tmp_path):
    _run(tmp_path, {}, clock=lambda: 1000.0)
    later = 1000.0 + discovery.TTL + 1
    expired, dummy = _run(tmp_path, {}, clock=lambda: later)
    assert len(_discovery_requests(expired)) == 2
    other, dummy = _run(tmp_path, {}, host="https://10.9.9.9:6443")
    assert len(_discovery_requests(other)) == 2 and len(list(tmp_path.iterdir())) == 2
    for f in tmp_path.iterdir():
        f.write_text("{not json")
    broken, dummy = _run(tmp_path, {})
    assert len(_discovery_requests(broken)) == 2


def test_cache_dir_from_the_environment_and_off_switch(tmp_path):
    kube = ServedKube(SERVED)
    assert DiscoveryCache.for_client(kube, {"SUPERTODO_DISCOVERY_CACHE_DIR": "off"}) is None
    cache = DiscoveryCache.for_client(kube, {"SUPERTODO_DISCOVERY_CACHE_DIR": str(tmp_path)})
    assert cache.directory == str(tmp_path) and cache.server == HOST
    cache = DiscoveryCache.for_client(kube, {"XDG_CACHE_HOME": str(tmp_path)})
    assert cache.directory == os.path.join(str(tmp_path), "supertodo", "discovery")
    assert DiscoveryCache.for_client(object(), {"SUPERTODO_DISCOVERY_CACHE_DIR": str(tmp_path)}) is None


def test_the_apply_service_loads_and_saves_the_cache(tmp_path, monkeypatch):
    params = {"manifests": _entries(namespace(), configmap()), "schema_dir": schema_dir_or_skip(),
              "charts": {}, "kubernetes_version": "1.24.0", "field_manager": "m"}
    monkeypatch.setenv("SUPERTODO_DISCOVERY_CACHE_DIR", str(tmp_path))
    store = {}
    first = apply_manifests(params, client=ServedKube(SERVED, store))
    assert first["changed"] and first["requests"] == 2 * 2 + 1
    second = apply_manifests(params, client=ServedKube(SERVED, store))
    assert not second["changed"] and second["requests"] == 2 * 2


# -- the cluster's CRDs, when no schema dir is given -------------------------------------------------------------
class CrdKube(ServedKube):
    """ServedKube that also answers the list of CustomResourceDefinitions (or refuses it with ``crd_status``)."""

    def __init__(self, served, objects=None, crds=(), crd_status=None):
        super().__init__(served, objects)
        self.crds = list(crds)
        self.crd_status = crd_status

    def request(self, method, path, body=None, query=None, content_type=None, stream=False, timeout=None):
        if path == discovery.CRD_LIST_PATH:
            self.requests += 1
            self.log.append((method, path))
            if self.crd_status:
                raise ApiError("GET %s: %d forbidden" % (path, self.crd_status), self.crd_status)
            return {"kind": "CustomResourceDefinitionList", "items": copy.deepcopy(self.crds)}
        return super().request(method, path, body, query, content_type, stream, timeout)


def _gitrepository_crd():
    import glob

    import yaml
    for fname in glob.glob(os.path.join(schema_dir_or_skip(), "crds", "**", "*.y*ml"), recursive=True):
        with open(fname, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if doc and doc.get("kind") == "CustomResourceDefinition" and \
                        doc["spec"]["names"]["kind"] == "GitRepository":
                    doc.pop("kind")     # list items of a real answer may carry no kind
                    return doc
    pytest.skip("no GitRepository CRD in the schema dir")


def _params(*objs):
    return {"manifests": _entries(*objs), "schema_dir": None, "charts": {}, "kubernetes_version": "1.24.0",
            "field_manager": "m"}


def test_without_schema_dir_apply_reads_the_cluster_crds_once_and_they_stand_for_discovery(monkeypatch):
    monkeypatch.setenv("SUPERTODO_DISCOVERY_CACHE_DIR", "off")
    kube = CrdKube(SERVED, {}, crds=[_gitrepository_crd()])
    out = apply_manifests(_params(namespace(), gitrepository(), gitrepository(url="https://example.com/b")),
                          client=kube)
    assert [p for _m, p in kube.log].count(discovery.CRD_LIST_PATH) == 1
    # the CRD answered where GitRepository lives: only v1 is discovered
    assert _discovery_requests(kube) == ["/api/v1"]
    assert out["warnings"] == []


def test_without_schema_dir_a_field_the_cluster_crd_lacks_is_refused_before_anything_is_applied(monkeypatch):
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import ManifestInvalid
    monkeypatch.setenv("SUPERTODO_DISCOVERY_CACHE_DIR", "off")
    kube = CrdKube(SERVED, {}, crds=[_gitrepository_crd()])
    with pytest.raises(ManifestInvalid) as err:
        apply_manifests(_params(namespace(), gitrepository(ref={"branch": "main", "brunch": "x"})), client=kube)
    assert "spec.ref.brunch" in str(err.value) and "GitRepository flux-system/flux-system" in str(err.value)
    assert [m for m, _p in kube.log] == ["GET"]          # the CRD list only: nothing applied


def test_without_schema_dir_forbidden_crd_list_warns_and_applies(monkeypatch):
    monkeypatch.setenv("SUPERTODO_DISCOVERY_CACHE_DIR", "off")
    kube = CrdKube(SERVED, {}, crd_status=403)
    out = apply_manifests(_params(namespace(), gitrepository()), client=kube)
    assert out["counts"]["create"] == 2
    assert len(out["warnings"]) == 1
    assert "403" in out["warnings"][0] and "source.toolkit.fluxcd.io/v1 GitRepository" in out["warnings"][0]


def test_with_schema_dir_the_cluster_crds_are_not_read(monkeypatch):
    monkeypatch.setenv("SUPERTODO_DISCOVERY_CACHE_DIR", "off")
    kube = CrdKube(SERVED, {}, crds=[_gitrepository_crd()])
    params = _params(namespace(), gitrepository())
    params["schema_dir"] = schema_dir_or_skip()
    apply_manifests(params, client=kube)
    assert discovery.CRD_LIST_PATH not in [p for _m, p in kube.log]
