"""The cluster's version and served API versions (module_utils/kube/versions.py, module cluster_versions), and the
offline schema version chosen for a cluster version (validate.schema_version)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError, SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.kube.versions import (
    parse_version,
    served_api_version,
    server_version,
)
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import Validator, schema_version
from ansible_collections.supertodo.platform.plugins.modules import cluster_versions

CRONJOB = {"name": "cronjobs", "kind": "CronJob", "namespaced": True}
JOB = {"name": "jobs", "kind": "Job", "namespaced": True}
STATUS = {"name": "cronjobs/status", "kind": "CronJob", "namespaced": True}


class FakeDiscovery:
    """Answers GET of /version and discovery paths from a dict; records the paths asked."""

    def __init__(self, answers):
        self.answers = answers
        self.paths = []

    def request(self, method, path, **_):
        assert method == "GET"
        self.paths.append(path)
        if path not in self.answers:
            raise ApiError("GET %s: 404 Not Found" % path, 404)
        return self.answers[path]


def k8s_1_20():
    return FakeDiscovery({
        "/version": {"major": "1", "minor": "20", "gitVersion": "v1.20.2"},
        "/apis/batch": {"preferredVersion": {"groupVersion": "batch/v1"},
                        "versions": [{"groupVersion": "batch/v1"}, {"groupVersion": "batch/v1beta1"}]},
        "/apis/batch/v1": {"resources": [JOB, {"name": "jobs/status", "kind": "Job"}]},
        "/apis/batch/v1beta1": {"resources": [CRONJOB, STATUS]},
    })


def k8s_1_24():
    return FakeDiscovery({
        "/version": {"major": "1", "minor": "24", "gitVersion": "v1.24.3"},
        "/apis/batch": {"preferredVersion": {"groupVersion": "batch/v1"},
                        "versions": [{"groupVersion": "batch/v1"}, {"groupVersion": "batch/v1beta1"}]},
        "/apis/batch/v1": {"resources": [JOB, CRONJOB]},
        "/apis/batch/v1beta1": {"resources": [CRONJOB]},
    })


@pytest.mark.parametrize("git,major,minor,expected", [
    ("v1.20.2", "1", "20", "1.20.2"), ("v1.29.4+k3s1", "1", "29", "1.29.4"), ("v1.27", "1", "27", "1.27.0"),
    ("", "1", "26+", "1.26.0"), ("custom-build", "1", "25", "1.25.0")])
def test_parse_version(git, major, minor, expected):
    assert parse_version(git, major, minor) == expected


def test_a_server_without_a_version_is_named():
    with pytest.raises(SupertodoError, match="names no Kubernetes version"):
        parse_version("dev", None, None)


def test_cronjob_on_1_20_is_beta_although_batch_v1_is_preferred():
    client = k8s_1_20()
    assert server_version(client) == ("1.20.2", "v1.20.2")
    assert served_api_version(client, "batch", "CronJob") == "batch/v1beta1"


def test_cronjob_on_1_24_is_the_preferred_version_with_one_lookup():
    client = k8s_1_24()
    assert served_api_version(client, "batch", "CronJob") == "batch/v1"
    assert client.paths == ["/apis/batch", "/apis/batch/v1"]


def test_unserved_kind_and_group_give_none():
    client = k8s_1_20()
    assert served_api_version(client, "batch", "Nothing") is None
    assert served_api_version(client, "example.com", "Widget") is None
    client.answers["/api/v1"] = {"resources": [{"name": "configmaps", "kind": "ConfigMap"}]}
    assert served_api_version(client, "", "ConfigMap") == "v1"


@pytest.mark.parametrize("version,expected", [
    ("1.20.2", "1.22.0"), ("1.22.7", "1.22.0"), ("1.24.0", "1.24.0"), ("v1.30.1", "1.30.0"), ("1.40.0", "1.31.0")])
def test_schema_version_is_the_same_minor_or_the_nearest_shipped(version, expected):
    assert schema_version(version) == expected


def test_schema_version_refuses_a_non_version():
    with pytest.raises(ValueError, match="kubernetes_version must be a version"):
        schema_version("latest")


def test_a_1_20_cluster_validates_its_beta_cronjob():
    cronjob = {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "snap", "namespace": "p"},
               "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "Never", "containers": [{"name": "c", "image": "redis:7"}]}}}}}}
    assert Validator(None, kubernetes_version="1.20.2").validate_object(cronjob) == []
    assert Validator(None, kubernetes_version="1.30.0").validate_object(cronjob) != []


def _run(capsys, monkeypatch, client, args):
    monkeypatch.setattr(cluster_versions, "KubeClient", lambda params: client)
    with patch_module_args(dict(args, host="https://127.0.0.1:1")):
        with pytest.raises(SystemExit):
            cluster_versions.main()
    return json.loads(capsys.readouterr().out)


def test_module_returns_version_and_served_kinds_unchanged(capsys, monkeypatch):
    res = _run(capsys, monkeypatch, k8s_1_20(), {"kinds": [{"group": "batch", "kind": "CronJob"},
                                                           {"group": "batch", "kind": "Missing"}],
                                                 "_ansible_check_mode": True})
    assert res["changed"] is False and res["kubernetes_version"] == "1.20.2" and res["git_version"] == "v1.20.2"
    assert res["served"] == {"CronJob": "batch/v1beta1"}


def test_module_failure_names_the_cause(capsys, monkeypatch):
    client = FakeDiscovery({})
    res = _run(capsys, monkeypatch, client, {"kinds": []})
    assert res["failed"] is True and "reading the cluster's version" in res["msg"] and "/version" in res["msg"]
