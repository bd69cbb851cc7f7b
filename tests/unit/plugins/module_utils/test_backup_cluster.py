"""The ``cluster`` check with a fake Kubernetes client (get by apiVersion/kind/name/namespace)."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.backup.cluster import cluster_check
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError


class FakeClient:
    def __init__(self, objects=None, error=None):
        self.objects = objects or {}
        self.error = error
        self.calls = []

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append((api_version, kind, name, namespace))
        if self.error:
            raise self.error
        return self.objects.get((kind, name))


def cluster(archiving="True", message=""):
    return {"status": {"conditions": [
        {"type": "Ready", "status": "True"},
        {"type": "ContinuousArchiving", "status": archiving, "reason": "R", "message": message}]}}


STORE = {"status": {"serverRecoveryWindow": {"postgres-production": {
    "firstRecoverabilityPoint": "2026-11-21T00:00:00Z", "lastSuccessfulBackupTime": "2026-11-28T00:00:00Z"}}}}


def test_ok_with_recovery_window():
    client = FakeClient({("Cluster", "postgres-production"): cluster(), ("ObjectStore", "pg-backup"): STORE})
    res = cluster_check(client, "postgres-production", "production", "pg-backup")
    assert res["status"] == "ok"
    assert res["object_store_recovery_window"]["firstRecoverabilityPoint"] == "2026-11-21T00:00:00Z"
    assert ("postgresql.cnpg.io/v1", "Cluster", "postgres-production", "production") in client.calls
    assert ("barmancloud.cnpg.io/v1", "ObjectStore", "pg-backup", "production") in client.calls


def test_archiving_failing_missing_objects_and_api_errors():
    client = FakeClient({("Cluster", "postgres-production"): cluster("False", "exit status 4")})
    res = cluster_check(client, "postgres-production", "production", "pg-backup")
    assert res["status"] == "failed"
    assert "ContinuousArchiving=False" in res["message"] and "exit status 4" in res["message"]
    assert "ObjectStore production/pg-backup does not exist" in res["message"]
    res = cluster_check(FakeClient(), "postgres-production", "production")
    assert res["status"] == "failed" and "does not exist" in res["message"]
    res = cluster_check(FakeClient(error=ApiError("GET x: 403 forbidden", 403)), "postgres-production", "production")
    assert res["status"] == "failed" and "403 forbidden" in res["message"]
