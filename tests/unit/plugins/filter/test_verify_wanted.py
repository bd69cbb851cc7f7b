# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify_wanted: the objects the roles produced, reduced to what the inventory wants, and compared with the live
objects by the same report (plugins/filter/verify_report.py)."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parents[3] / "plugins" / "filter" / "verify_report.py"
_spec = importlib.util.spec_from_file_location("verify_report_for_wanted", PLUGIN)
vr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vr)
_fix = importlib.util.spec_from_file_location("verify_report_fixtures", HERE / "test_verify_report.py")
fx = importlib.util.module_from_spec(_fix)
_fix.loader.exec_module(fx)


def _hr(name, chart, values, namespace="production"):
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"chart": {"spec": {"chart": chart}}, "values": values}}


def produced():
    """Production as the roles produce it (the shape of the manifest list: {path, object, ...})."""
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "production"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny-all", "namespace": "production"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
         "metadata": {"name": "cnpg", "namespace": "flux-system"}},
        _hr("postgres-production", "cluster",
            {"cluster": {"instances": 3, "storage": {"size": "50Gi"}, "monitoring": {"enabled": True}}}),
        _hr("redis-production", "redis-cluster", {"cluster": {"nodes": 6, "replicas": 1}, "persistence": {"size": "20Gi"}}),
        {"apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore",
         "metadata": {"name": "postgres-production", "namespace": "production"},
         "spec": {"configuration": {"destinationPath": "s3://super-todo-backups/postgres-production"}}},
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
         "metadata": {"name": "postgres-production-daily", "namespace": "production"},
         "spec": {"schedule": "0 0 2 * * *"}},
        _hr("super-todo", "./charts/super-todo", {
            "replicaCount": 2,
            "app": {"logLevel": "warning"},
            "ingress": {"enabled": True, "host": "app.staging", "tls": {"enabled": True}},
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}},
            "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
            "serviceMonitor": {"enabled": True},
        }),
    ]
    entries = [{"path": "x/%d.yaml" % i, "object": o} for i, o in enumerate(objs)]
    entries.insert(1, {"path": "secrets/app.yaml", "secret": True,
                       "object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app", "namespace": "production"},
                                  "stringData": {"password": "s3cret"}}})
    return entries


def _report(manifests, objects=None):
    objects = objects if objects is not None else fx.production_objects()
    wanted = vr.produced_facts(manifests, fx.NAMES, "production")
    return vr.build_report(vr.live_facts(objects, fx.NAMES), wanted, "production", "production", objects)


def test_produced_objects_match_the_live_environment():
    rep = _report(produced())
    assert rep["drift"] == [], [(r["feature"], r["wanted"], r["live"]) for r in rep["rows"] if r["drift"]]
    rows = {r["key"]: r for r in rep["rows"]}
    assert rows["replicas"]["wanted"] == "2-5 (HPA)"
    assert rows["limits"]["wanted"] == "CPU 250m-1000m, memory 256Mi-1Gi" and rows["limits"]["live"] == "CPU 250m-1, memory 256Mi-1Gi"
    assert rows["backups"]["wanted_source"] == "ScheduledBackup postgres-production-daily, ObjectStore postgres-production"
    assert rows["log_level"]["wanted_source"] == "HelmRelease super-todo values"


def test_the_produced_wanted_values_equal_the_old_inventory_mapping():
    """What the role's Jinja mapping derived from the inventory, the produced objects now say (one mapping)."""
    facts = vr.produced_facts(produced(), fx.NAMES, "production")["facts"]
    for key, want in fx.PRODUCTION_WANTED.items():
        assert vr.normalise(key, facts[key]) == vr.normalise(key, want), key


@pytest.mark.parametrize("edit, feature", [
    (lambda m: m[-1]["object"]["spec"]["values"]["app"].update(logLevel="debug"), "Log level"),
    (lambda m: m[-1]["object"]["spec"]["values"]["autoscaling"].update(maxReplicas=9), "HPA"),
    (lambda m: m[4]["object"]["spec"]["values"]["cluster"].update(instances=2), "PostgreSQL"),
    (lambda m: m[-1]["object"]["spec"]["values"]["ingress"].update(host="todo.example"), "Ingress"),
])
def test_an_inventory_change_not_yet_applied_is_drift_on_its_row(edit, feature):
    manifests = produced()
    edit(manifests)
    drift = _report(manifests)["drift"]
    assert drift == (["Replicas", "HPA"] if feature == "HPA" else [feature])


def test_secrets_and_other_namespaces_are_not_read():
    manifests = produced()
    manifests.append({"path": "y.yaml", "object": _hr("super-todo", "x", {"replicaCount": 7}, namespace="staging")})
    wanted = vr.produced_facts(manifests, fx.NAMES, "production")
    assert "s3cret" not in repr(wanted)
    assert wanted["facts"]["replicas"] == {"min": 2, "max": 5}


def test_rows_nothing_produced_are_not_set():
    manifests = [e for e in produced() if e["object"]["kind"] != "HelmRelease"
                 or e["object"]["metadata"]["name"] == "super-todo"]
    rows = {r["key"]: r for r in _report(manifests)["rows"]}
    assert rows["postgresql"]["wanted"] == "(not set)" and not rows["postgresql"]["drift"]
    assert rows["storage"]["wanted"] == "(not set)"
    no_app = [e for e in produced() if e["object"]["metadata"]["name"] != "super-todo"]
    rows = {r["key"]: r for r in _report(no_app)["rows"]}
    assert rows["log_level"]["wanted"] == "(not set)" and rows["log_level"]["wanted_source"] == "no app HelmRelease produced"


def test_a_produced_entry_without_an_object_is_named():
    manifests = produced()
    manifests.append({"path": "broken.yaml"})
    with pytest.raises(vr.VerifyInputError, match=r"produced manifest 9 \(broken.yaml\) has no object with a kind"):
        vr.produced_facts(manifests, fx.NAMES, "production")
    with pytest.raises(vr.VerifyInputError, match="must be a list"):
        vr.produced_facts({"x": 1}, fx.NAMES, "production")


def test_the_produced_list_is_not_modified():
    manifests = produced()
    before = copy.deepcopy(manifests)
    _report(manifests)
    assert manifests == before
