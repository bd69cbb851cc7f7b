"""backup_verify's ``cluster`` check against the local control plane (real kube-apiserver + etcd, CRDs installed):
a CloudNativePG Cluster's conditions and its barman cloud ObjectStore, next to a real archive."""

from __future__ import annotations

import uuid

import pytest

from ansible_collections.supertodo.platform.plugins.modules import backup_verify

from .conftest import DEST, SERVER
from .test_backup_verify import params

pytestmark = pytest.mark.cluster

CLUSTER = """
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: postgres-production, namespace: %(ns)s}
spec:
  instances: 1
  storage: {size: 1Gi}
---
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: {name: postgres-production-backup, namespace: %(ns)s}
spec:
  configuration:
    destinationPath: %(dest)s
"""


def set_status(kube, ns, archiving):
    rest = kube.cluster.rest()
    conditions = [
        {"type": "Ready", "status": "True", "reason": "ClusterIsReady", "message": "Cluster is Ready",
         "lastTransitionTime": "2026-11-28T09:00:00Z"},
        {"type": "ContinuousArchiving", "status": "True" if archiving else "False",
         "reason": "ContinuousArchivingSuccess" if archiving else "ContinuousArchivingFailing",
         "message": "Continuous archiving is working" if archiving else "unexpected failure invoking barman-cloud-wal-archive: exit status 4",
         "lastTransitionTime": "2026-11-28T09:00:00Z"},
    ]
    rest.request("PATCH", "/apis/postgresql.cnpg.io/v1/namespaces/%s/clusters/postgres-production/status" % ns,
                 body={"status": {"conditions": conditions}}, content_type="application/merge-patch+json")


def test_cluster_conditions_join_the_report(kube, archive):
    ns = "backup-verify-" + uuid.uuid4().hex[:6]
    assert kube.kubectl("create", "namespace", ns).returncode == 0
    try:
        res = kube.kubectl("apply", "-f", "-", input=CLUSTER % {"ns": ns, "dest": DEST})
        assert res.returncode == 0, res.stderr
        set_status(kube, ns, archiving=True)
        cluster = {"name": SERVER, "namespace": ns, "object_store": "postgres-production-backup",
                   "kubeconfig": kube.kubeconfig, "context": None, "host": None, "api_key": None,
                   "validate_certs": None, "request_timeout": 30.0}
        ok = backup_verify.verify(params(archive.s3, cluster=cluster))
        assert ok["failed_checks"] == [], ok["checks"]
        assert ok["checks"]["cluster"]["conditions"] == {"Ready": "True", "ContinuousArchiving": "True"}
        set_status(kube, ns, archiving=False)
        bad = backup_verify.verify(params(archive.s3, cluster=cluster))
        assert bad["failed_checks"] == ["cluster"]
        assert "ContinuousArchiving=False" in bad["checks"]["cluster"]["message"]
        assert "exit status 4" in bad["checks"]["cluster"]["message"]
        missing = backup_verify.verify(params(archive.s3, cluster=dict(cluster, object_store="nope")))
        assert "ObjectStore %s/nope does not exist" % ns in missing["checks"]["cluster"]["message"]
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false")
