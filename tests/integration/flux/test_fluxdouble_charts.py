"""The Flux double's chart handling without a cluster: values validation against the stored upstream schemas,
helm template of the test chart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from localkube.fluxdouble import charts
from localkube.fluxdouble.controller import duration

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = Path(os.environ.get("SUPERTODO_SCHEMA_DIR") or REPO.parent / "shared" / "schemas")

needs_schemas = pytest.mark.skipif(not (SCHEMAS / "chart-values").is_dir(), reason="schema directory not found")


@needs_schemas
def test_redis_values_validated_against_the_bitnami_schema():
    charts.validate_values(SCHEMAS, "redis", {"architecture": "standalone", "auth": {"enabled": True}})
    with pytest.raises(charts.ChartError, match=r"redis: at 'replica/replicaCount': 'three' is not of type 'number'"):
        charts.validate_values(SCHEMAS, "redis", {"replica": {"replicaCount": "three"}})


@needs_schemas
def test_cnpg_cluster_values_validated():
    charts.validate_values(SCHEMAS, "cluster", {"cluster": {"instances": 3}})
    with pytest.raises(charts.ChartError, match="cluster: at 'cluster/instances'"):
        charts.validate_values(SCHEMAS, "cluster", {"cluster": {"instances": "three"}})


@needs_schemas
def test_redis_cluster_without_schema_checks_top_level_keys():
    charts.validate_values(SCHEMAS, "redis-cluster", {"cluster": {"nodes": 6}, "global": {}})
    with pytest.raises(charts.ChartError, match="unknown top-level keys: clusterr"):
        charts.validate_values(SCHEMAS, "redis-cluster", {"clusterr": {"nodes": 6}})


def test_unknown_chart_is_an_error(tmp_path):
    with pytest.raises(charts.ChartError, match="chart nope is not known"):
        charts.validate_values(tmp_path, "nope", {})


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm not on PATH (source tools/env.sh)")
def test_helm_template_of_the_test_chart_uses_the_values():
    objs = charts.helm_template(REPO / "tests/integration/flux/testchart", "rel", "ns1", {"message": "m1"},
                                ["apps/v1", "v1"], "v1.20.2")
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert kinds == [("ConfigMap", "rel-config"), ("Deployment", "rel")]
    assert [o for o in objs if o["kind"] == "ConfigMap"][0]["data"] == {"message": "m1"}
    with pytest.raises(charts.ChartError):
        charts.helm_template(REPO / "tests/integration/flux/nochart", "rel", "ns1", {}, [], "v1.20.2")


def test_go_durations():
    assert duration("5m", 1) == 300 and duration("1m30s", 1) == 90 and duration(None, 42) == 42


def test_helm_errors_are_reported_whole_as_helm_controller_does():
    stderr = ("walk.go:74: found symbolic link in path\nError: values don't meet the specifications of the schema(s) "
              "in the following chart(s):\nsuper-todo:\n- replicaCount: Invalid type. Expected: integer, given: "
              "string\n")
    assert charts.helm_error(stderr) == ("values don't meet the specifications of the schema(s) in the following "
                                         "chart(s):\nsuper-todo:\n- replicaCount: Invalid type. Expected: integer, "
                                         "given: string")
    assert charts.helm_error("boom\n") == "boom"
