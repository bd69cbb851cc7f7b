# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's report logic (plugins/filter/verify_report.py) on object fixtures.

The objects are shaped like what kubernetes.core.k8s_info returns; the live-cluster tests are in
tests/integration/verify/.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "verify_report.py"
_spec = importlib.util.spec_from_file_location("verify_report", PLUGIN)
vr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vr)

NAMES = {"app_release": "super-todo", "app_deployment": "super-todo", "app_container": "super-todo",
         "postgres_release": "postgres-production", "postgres_cluster": "postgres-production",
         "redis_release": "redis-production"}


def _ready(status="True", reason="ReconciliationSucceeded", message="ok"):
    return {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message}]}


def production_objects():
    return {
        "Namespace": [{"metadata": {"name": "production"}, "status": {"phase": "Active"}}],
        "Deployment": [{
            "metadata": {"name": "super-todo", "generation": 1},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{
                "name": "super-todo",
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                "envFrom": [{"configMapRef": {"name": "super-todo-config"}}],
            }]}}},
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                       "message": "Deployment has minimum availability."}]},
        }],
        "HorizontalPodAutoscaler": [{"metadata": {"name": "super-todo"},
                                     "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "super-todo"},
                                              "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80}}],
        "Ingress": [{"metadata": {"name": "super-todo"},
                     "spec": {"rules": [{"host": "app.staging"}], "tls": [{"hosts": ["app.staging"]}]}}],
        "NetworkPolicy": [
            {"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
            {"metadata": {"name": "allow-app"}, "spec": {"podSelector": {"matchLabels": {"app": "x"}},
                                                         "ingress": [{}], "policyTypes": ["Ingress"]}},
        ],
        "ConfigMap": [{"metadata": {"name": "super-todo-config"}, "data": {"LOG_LEVEL": "WARN"}}],
        "HelmRelease": [
            {"metadata": {"name": "super-todo", "generation": 1}, "spec": {"chart": {"spec": {"chart": "./charts/super-todo"}},
                                                                           "values": {"serviceMonitor": {"enabled": True}}},
             "status": _ready()},
            {"metadata": {"name": "postgres-production", "generation": 1},
             "spec": {"chart": {"spec": {"chart": "cluster"}},
                      "values": {"cluster": {"instances": 3, "storage": {"size": "50Gi"}, "monitoring": {"enabled": True}}}},
             "status": _ready()},
            {"metadata": {"name": "redis-production", "generation": 1},
             "spec": {"chart": {"spec": {"chart": "redis-cluster"}},
                      "values": {"cluster": {"nodes": 6, "replicas": 1}, "persistence": {"size": "20Gi"}}},
             "status": _ready()},
        ],
        "ScheduledBackup": [{"metadata": {"name": "postgres-production-daily"}, "spec": {"schedule": "0 0 2 * * *"}}],
        "ObjectStore": [{"metadata": {"name": "postgres-production"},
                         "spec": {"configuration": {"destinationPath": "s3://super-todo-backups/postgres-production"}}}],
        "Cluster": [], "ServiceMonitor": [], "PodMonitor": [],
    }


PRODUCTION_WANTED = {
    "namespace": "production",
    "replicas": {"min": 2, "max": 5},
    "postgresql": {"instances": 3},
    "redis": {"mode": "cluster", "nodes": 6, "replicas": 1},
    "storage": {"postgres": "50Gi", "redis": "20Gi"},
    "ingress": {"hosts": ["app.staging"], "tls": True},
    "limits": {"cpu_request": "250m", "cpu_limit": "1000m", "memory_request": "256Mi", "memory_limit": "1Gi"},
    "hpa": {"enabled": True, "min": 2, "max": 5, "cpu": 80},
    "monitoring": {"enabled": True},
    "backups": {"enabled": True, "destination": "s3://super-todo-backups/postgres-production", "schedule": "0 0 2 * * *"},
    "log_level": "warning",
    "network_policies": {"mode": "strict"},
}


def report(objects=None, wanted=None, promotion=None):
    objects = objects if objects is not None else production_objects()
    live = vr.live_facts(objects, NAMES)
    return vr.build_report(live, wanted if wanted is not None else PRODUCTION_WANTED, "production", "production",
                           objects, promotion)


def rows(rep):
    return {r["key"]: r for r in rep["rows"]}


def test_matching_environment_has_no_drift_and_is_ready():
    rep = report()
    assert rep["ready"] is True, rep["problems"]
    assert rep["drift"] == [], [(r["feature"], r["wanted"], r["live"]) for r in rep["rows"] if r["drift"]]
    r = rows(rep)
    assert [x["feature"] for x in rep["rows"]] == [label for dummy, label in vr.ROWS]
    assert r["replicas"]["live"] == "2-5 (HPA)"
    assert r["postgresql"]["live"] == "3-node HA cluster"
    assert r["redis"]["live"] == "cluster, 6 nodes (1 replica each)"
    assert r["storage"]["live"] == "PostgreSQL 50Gi, Redis 20Gi"
    assert r["limits"]["live"] == "CPU 250m-1, memory 256Mi-1Gi"  # 1 CPU == 1000m: not drift
    assert r["network_policies"]["live"] == "strict"
    assert r["log_level"]["live"] == "WARN"  # WARN == warning: not drift
    assert r["backups"]["live"].startswith("enabled (s3://super-todo-backups/postgres-production")


@pytest.mark.parametrize("mutate, feature, live_text", [
    (lambda o: o["HorizontalPodAutoscaler"][0]["spec"].update(maxReplicas=7), "HPA", "enabled (2-7 pods, CPU 80%)"),
    (lambda o: o["HelmRelease"][1]["spec"]["values"]["cluster"].update(instances=1), "PostgreSQL", "1 instance"),
    (lambda o: o["ConfigMap"][0]["data"].update(LOG_LEVEL="debug"), "Log level", "debug"),
    (lambda o: o["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(memory="2Gi"),
     "Resource limits", "CPU 250m-1, memory 256Mi-2Gi"),
    (lambda o: o["NetworkPolicy"].pop(0), "Network policies", "basic"),
    (lambda o: o.update(ScheduledBackup=[], ObjectStore=[]), "Backups", "disabled"),
    (lambda o: o["Ingress"][0]["spec"]["rules"][0].update(host="app.example"), "Ingress", "app.example (TLS)"),
    (lambda o: o["ScheduledBackup"][0]["spec"].update(schedule="0 0 4 * * *"), "Backups",
     "enabled (s3://super-todo-backups/postgres-production, schedule 0 0 4 * * *)"),
    (lambda o: o["HelmRelease"][2]["spec"]["values"]["persistence"].update(size="10Gi"), "Storage",
     "PostgreSQL 50Gi, Redis 10Gi"),
])
def test_each_edit_behind_our_back_is_drift(mutate, feature, live_text):
    objects = production_objects()
    mutate(objects)
    rep = report(objects)
    # the HPA also decides the Replicas row
    assert rep["drift"] == (["Replicas", "HPA"] if feature == "HPA" else [feature])
    assert rows(rep)[{label: key for key, label in vr.ROWS}[feature]]["live"] == live_text


def test_deleted_hpa_drifts_replicas_and_hpa():
    objects = production_objects()
    objects["HorizontalPodAutoscaler"] = []
    rep = report(objects)
    assert rep["drift"] == ["Replicas", "HPA"]
    assert rows(rep)["replicas"]["live"] == "2" and rows(rep)["hpa"]["live"] == "disabled"


def test_not_ready_helmrelease_and_deployment_are_reported():
    objects = production_objects()
    objects["HelmRelease"][0]["status"] = _ready("False", "InstallFailed", "values don't meet the schema")
    objects["Deployment"][0]["status"]["conditions"][0].update(status="False", reason="MinimumReplicasUnavailable")
    rep = report(objects)
    assert rep["ready"] is False
    assert any("HelmRelease super-todo not ready: InstallFailed: values don't meet the schema" in p for p in rep["problems"])
    assert any(p.startswith("Deployment super-todo not ready: MinimumReplicasUnavailable") for p in rep["problems"])


def test_stale_ready_status_is_not_ready():
    objects = production_objects()
    objects["HelmRelease"][1]["metadata"]["generation"] = 2
    rep = report(objects)
    assert rep["ready"] is False
    assert any("generation 1, spec is generation 2" in p for p in rep["problems"])


def test_empty_namespace_is_not_ready_and_everything_missing():
    rep = report({"Namespace": []})
    assert rep["ready"] is False
    assert "no HelmRelease in the namespace" in rep["problems"]
    assert rows(rep)["namespace"]["live"] == "missing" and rows(rep)["namespace"]["drift"]


def test_backup_schedule_is_compared_only_when_the_inventory_sets_one():
    objects = production_objects()
    objects["ScheduledBackup"][0]["spec"]["schedule"] = "0 30 1 * * *"
    assert report(objects)["drift"] == ["Backups"]
    wanted = dict(PRODUCTION_WANTED, backups={"enabled": True, "destination": "s3://super-todo-backups/postgres-production/"})
    assert report(objects, wanted)["drift"] == []


def test_unset_inventory_rows_are_not_compared():
    wanted = dict(PRODUCTION_WANTED, log_level=None, hpa=None)
    objects = production_objects()
    objects["ConfigMap"][0]["data"]["LOG_LEVEL"] = "trace"
    rep = report(objects, wanted)
    assert rep["drift"] == []
    assert rows(rep)["log_level"]["wanted"] == "(not set)"
    assert rows(rep)["log_level"]["note"] == "not set in the inventory"


def test_cnpg_cluster_wins_over_helmrelease_values():
    objects = production_objects()
    objects["Cluster"] = [{"metadata": {"name": "postgres-production"}, "spec": {"instances": 2, "storage": {"size": "50Gi"}}}]
    rep = report(objects)
    assert rep["drift"] == ["PostgreSQL"]
    assert rows(rep)["postgresql"]["live_source"] == "Cluster postgres-production"


def test_staging_shapes():
    objects = {
        "Namespace": [{"metadata": {"name": "staging"}}],
        "Deployment": [{"metadata": {"name": "super-todo"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "super-todo", "env": [{"name": "LOG_LEVEL", "value": "DEBUG"}]}]}}},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}}],
        "HelmRelease": [{"metadata": {"name": "redis-staging"}, "spec": {"chart": {"spec": {"chart": "redis"}},
                                                                         "values": {"architecture": "standalone",
                                                                                    "master": {"persistence": {"size": "2Gi"}}}},
                         "status": _ready()}],
        "NetworkPolicy": [{"metadata": {"name": "allow-internal"},
                           "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}}],
    }
    names = dict(NAMES, postgres_release="postgres-staging", postgres_cluster="postgres-staging", redis_release="redis-staging")
    live = vr.live_facts(objects, names)
    wanted = {"replicas": {"replicas": 1}, "redis": {"mode": "standalone"}, "limits": {}, "hpa": {"enabled": False},
              "monitoring": {"enabled": False}, "backups": {"enabled": False}, "log_level": "debug",
              "network_policies": {"mode": "basic"}, "namespace": "staging"}
    rep = vr.build_report(live, wanted, "staging", "staging", objects)
    assert rep["drift"] == [], [(r["feature"], r["wanted"], r["live"]) for r in rep["rows"] if r["drift"]]
    r = rows(rep)
    assert r["limits"]["live"] == "none" and r["redis"]["live"] == "standalone"
    assert r["postgresql"]["live"] == "missing" and r["postgresql"]["wanted"] == "(not set)"


def test_promotion_record_and_outputs():
    record = {"who": "alice", "when": "2026-11-28T09:00:00Z", "from": "1.0.0", "to": "1.1.0", "result": "succeeded"}
    cm = {"metadata": {"name": "supertodo-promotions"}, "data": {"last": json.dumps(record), "history": json.dumps([record])}}
    rep = report(promotion=cm)
    assert rep["last_promotion"] == record
    table = vr.text_table(rep)
    assert table[0] == "production (namespace production): Ready"
    assert "last promotion: 1.0.0 -> 1.1.0, succeeded, by alice at 2026-11-28T09:00:00Z" in table
    md = vr.markdown(rep)
    assert "| Feature | Inventory wants | Live | Drift | Live source |" in md
    assert md.count("\n| ") >= 12 + 4
    json.dumps(rep)  # the JSON file is written from this
    bad = copy.deepcopy(cm)
    bad["data"]["last"] = "{not json"
    assert "not JSON" in report(promotion=bad)["last_promotion"]["error"]


def test_drift_row_is_marked_in_table_and_markdown():
    objects = production_objects()
    objects["ConfigMap"][0]["data"]["LOG_LEVEL"] = "debug"
    rep = report(objects)
    line = [x for x in vr.text_table(rep) if x.startswith("Log level")][0]
    assert line.endswith("DRIFT") and "warning" in line and "debug" in line
    assert "| Log level | warning | debug | **DRIFT** |" in vr.markdown(rep)


def test_bad_quantity_names_the_row():
    wanted = dict(PRODUCTION_WANTED, storage={"postgres": "fifty", "redis": "20Gi"})
    with pytest.raises(vr.VerifyInputError, match="row Storage: 'fifty' is not a Kubernetes quantity"):
        report(wanted=wanted)
