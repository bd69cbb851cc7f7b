# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``cluster`` check: a CloudNativePG Cluster's archiving conditions and its barman-cloud ObjectStore."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError

CLUSTER_API = "postgresql.cnpg.io/v1"
OBJECTSTORE_API = "barmancloud.cnpg.io/v1"
WANTED_CONDITIONS = ("Ready", "ContinuousArchiving")


def cluster_check(client, name, namespace, object_store=None, server_name=None):
    """Return a check result dict; never raises for a missing object (that is a failed check)."""
    try:
        cluster = client.get(CLUSTER_API, "Cluster", name, namespace)
        store = client.get(OBJECTSTORE_API, "ObjectStore", object_store, namespace) if object_store else None
    except SupertodoError as exc:
        return {"status": "failed", "message": "Cluster %s/%s: cannot read from the API server: %s"
                % (namespace, name, exc)}
    if cluster is None:
        return {"status": "failed", "message": "Cluster %s/%s does not exist" % (namespace, name)}
    conditions = {c.get("type"): c for c in (cluster.get("status") or {}).get("conditions") or []}
    report = {}
    problems = []
    for wanted in WANTED_CONDITIONS:
        cond = conditions.get(wanted)
        report[wanted] = cond.get("status") if cond else None
        if not cond:
            problems.append("condition %s missing" % wanted)
        elif cond.get("status") != "True":
            problems.append("%s=%s (%s: %s)" % (wanted, cond.get("status"), cond.get("reason"), cond.get("message")))
    window = None
    if object_store:
        if store is None:
            problems.append("ObjectStore %s/%s does not exist" % (namespace, object_store))
        else:
            windows = (store.get("status") or {}).get("serverRecoveryWindow") or {}
            window = windows.get(server_name or name)
    message = "Cluster %s/%s: %s" % (namespace, name, "; ".join(problems) if problems else
                                     "Ready and ContinuousArchiving are True")
    return {"status": "failed" if problems else "ok", "message": message, "conditions": report,
            "object_store_recovery_window": window}
