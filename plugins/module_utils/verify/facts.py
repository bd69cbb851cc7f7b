# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects -> one fact per report row, for both sides of the report.

``live_facts`` reads the objects of the cluster; ``produced_facts`` reads the objects the roles produced (the
manifest list the delivery step applies). Both go through the same readers for what both sides hold (the
Namespace, the data tier's HelmReleases, backups, NetworkPolicies, monitoring switches); the app's rows are read
from the Deployment, HPA and Ingress the chart made on the live side, and from the app HelmRelease's values (the
chart's input) on the produced side.
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.verify.common import VerifyInputError, by_name, get

_LOG_LEVEL_NAMES = ("LOG_LEVEL", "LOGLEVEL", "LOG_LVL")


def _hr_values(hr):
    return get(hr, "spec", "values", default={}) or {}


def _hr_chart(hr):
    return get(hr, "spec", "chart", "spec", "chart") or get(hr, "spec", "chartRef", "name")


def _app_container(deployment, app_name):
    containers = get(deployment, "spec", "template", "spec", "containers", default=[]) or []
    for container in containers:
        if container.get("name") == app_name:
            return container
    return containers[0] if containers else None


def _log_level(container, configmaps):
    if not container:
        return None
    for env in container.get("env") or []:
        if env.get("name", "").upper() in _LOG_LEVEL_NAMES:
            if "value" in env:
                return env["value"]
            ref = get(env, "valueFrom", "configMapKeyRef")
            if ref:
                return get(by_name(configmaps, ref.get("name")), "data", ref.get("key"))
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            data = get(by_name(configmaps, ref.get("name")), "data", default={}) or {}
            for key in _LOG_LEVEL_NAMES:
                if key in data:
                    return data[key]
    return None


def _network_policies(policies):
    if not policies:
        return {"mode": "none", "count": 0}
    deny = set()
    for policy in policies:
        spec = policy.get("spec") or {}
        selector = spec.get("podSelector") or {}
        if selector.get("matchLabels") or selector.get("matchExpressions"):
            continue  # selects some pods only: not a namespace-wide default deny
        types = spec.get("policyTypes") or ["Ingress"]
        if "Ingress" in types and not spec.get("ingress"):
            deny.add("Ingress")
        if "Egress" in types and not spec.get("egress"):
            deny.add("Egress")
    mode = "strict" if deny == {"Ingress", "Egress"} else "basic"
    return {"mode": mode, "count": len(policies), "default_deny": sorted(deny)}


def _namespace(objects, facts, sources):
    namespace = (objects.get("Namespace") or [None])[0]
    facts["namespace"] = get(namespace, "metadata", "name") if namespace else None
    sources["namespace"] = "Namespace" if namespace else "missing"


def _data_tier(objects, names, facts, sources):
    """PostgreSQL (the CloudNativePG Cluster when it exists, else its HelmRelease values), Redis (the chart of its
    HelmRelease says standalone/replication or cluster) and their storage."""
    hrs = objects.get("HelmRelease") or []
    pg_hr = by_name(hrs, names["postgres_release"])
    redis_hr = by_name(hrs, names["redis_release"])
    cluster = by_name(objects.get("Cluster"), names["postgres_cluster"])
    pg_values = get(_hr_values(pg_hr), "cluster", default={}) or {}
    if cluster:
        facts["postgresql"] = {"instances": get(cluster, "spec", "instances", default=1)}
        pg_storage = get(cluster, "spec", "storage", "size")
        sources["postgresql"] = "Cluster %s" % names["postgres_cluster"]
    elif pg_hr:
        facts["postgresql"] = {"instances": pg_values.get("instances", 3)}
        pg_storage = get(pg_values, "storage", "size", default="8Gi")
        sources["postgresql"] = "HelmRelease %s values" % names["postgres_release"]
    else:
        facts["postgresql"], pg_storage = None, None
        sources["postgresql"] = "missing"

    redis_values = _hr_values(redis_hr)
    redis_storage = None
    if redis_hr:
        if _hr_chart(redis_hr) == "redis-cluster":
            facts["redis"] = {"mode": "cluster", "nodes": get(redis_values, "cluster", "nodes", default=6),
                              "replicas": get(redis_values, "cluster", "replicas", default=1)}
            redis_storage = get(redis_values, "persistence", "size", default="8Gi")
        else:
            facts["redis"] = {"mode": redis_values.get("architecture", "replication")}
            redis_storage = get(redis_values, "master", "persistence", "size", default="8Gi")
        sources["redis"] = "HelmRelease %s (chart %s) values" % (names["redis_release"], _hr_chart(redis_hr))
    else:
        facts["redis"] = None
        sources["redis"] = "missing"
    facts["storage"] = {"postgres": pg_storage, "redis": redis_storage}
    sources["storage"] = "%s; %s" % (sources["postgresql"], sources["redis"])
    return pg_values, redis_values


def _monitoring(objects, names, pg_values, redis_values, facts, sources):
    """Monitors that exist, and the monitoring switches in the HelmRelease values."""
    app_values = _hr_values(by_name(objects.get("HelmRelease"), names["app_release"]))
    monitors = ["ServiceMonitor %s" % get(m, "metadata", "name") for m in objects.get("ServiceMonitor") or []]
    monitors += ["PodMonitor %s" % get(m, "metadata", "name") for m in objects.get("PodMonitor") or []]
    switches = []
    if get(pg_values, "monitoring", "enabled"):
        switches.append("%s monitoring" % names["postgres_release"])
    if get(redis_values, "metrics", "enabled"):
        switches.append("%s metrics" % names["redis_release"])
    if get(app_values, "serviceMonitor", "enabled") or get(app_values, "monitoring", "enabled"):
        switches.append("%s serviceMonitor" % names["app_release"])
    facts["monitoring"] = {"enabled": bool(monitors or switches)}
    sources["monitoring"] = ", ".join(sorted(monitors) + switches) or "no monitors, no monitoring values"


def _backups(objects, facts, sources):
    """The ScheduledBackup and the ObjectStore."""
    scheduled = objects.get("ScheduledBackup") or []
    stores = objects.get("ObjectStore") or []
    if scheduled or stores:
        facts["backups"] = {
            "enabled": True,
            "destination": get(stores[0], "spec", "configuration", "destinationPath") if stores else None,
            "schedule": get(scheduled[0], "spec", "schedule") if scheduled else None,
        }
        sources["backups"] = ", ".join(["ScheduledBackup %s" % get(s, "metadata", "name") for s in scheduled]
                                       + ["ObjectStore %s" % get(s, "metadata", "name") for s in stores])
    else:
        facts["backups"] = {"enabled": False}
        sources["backups"] = "no ScheduledBackup, no ObjectStore"


def _shared_rows(objects, names, facts, sources):
    _namespace(objects, facts, sources)
    pg_values, redis_values = _data_tier(objects, names, facts, sources)
    _monitoring(objects, names, pg_values, redis_values, facts, sources)
    _backups(objects, facts, sources)
    facts["network_policies"] = _network_policies(objects.get("NetworkPolicy") or [])
    sources["network_policies"] = "%d NetworkPolicy objects" % facts["network_policies"]["count"]


def live_facts(objects, names):
    """Reduce live objects (``{kind: [objects]}``) to one fact per row. ``names``: the objects' names."""
    objects = objects or {}
    facts, sources = {}, {}
    _shared_rows(objects, names, facts, sources)

    deployment = by_name(objects.get("Deployment"), names["app_deployment"])
    hpa = None
    for item in objects.get("HorizontalPodAutoscaler") or []:
        if get(item, "spec", "scaleTargetRef", "name") == names["app_deployment"]:
            hpa = item
    if hpa:
        facts["replicas"] = {"min": get(hpa, "spec", "minReplicas", default=1), "max": get(hpa, "spec", "maxReplicas")}
        sources["replicas"] = "HorizontalPodAutoscaler %s" % get(hpa, "metadata", "name")
        facts["hpa"] = {"enabled": True, "min": facts["replicas"]["min"], "max": facts["replicas"]["max"],
                        "cpu": get(hpa, "spec", "targetCPUUtilizationPercentage")}
        sources["hpa"] = sources["replicas"]
    else:
        facts["hpa"] = {"enabled": False}
        sources["hpa"] = "no HorizontalPodAutoscaler"
        if deployment:
            facts["replicas"] = {"replicas": get(deployment, "spec", "replicas", default=1)}
            sources["replicas"] = "Deployment %s" % names["app_deployment"]
        else:
            facts["replicas"] = None
            sources["replicas"] = "missing"

    hosts, tls = [], False
    for ingress in objects.get("Ingress") or []:
        for rule in get(ingress, "spec", "rules", default=[]) or []:
            if rule.get("host"):
                hosts.append(rule["host"])
        tls = tls or bool(get(ingress, "spec", "tls"))
    facts["ingress"] = {"hosts": sorted(set(hosts)), "tls": tls} if hosts else None
    sources["ingress"] = "Ingress" if hosts else "no Ingress"

    container = _app_container(deployment, names["app_container"])
    if container is not None:
        resources = container.get("resources") or {}
        facts["limits"] = {
            "cpu_request": get(resources, "requests", "cpu"), "cpu_limit": get(resources, "limits", "cpu"),
            "memory_request": get(resources, "requests", "memory"), "memory_limit": get(resources, "limits", "memory"),
        }
        sources["limits"] = "Deployment %s container %s" % (names["app_deployment"], container.get("name"))
        facts["log_level"] = _log_level(container, objects.get("ConfigMap"))
        sources["log_level"] = sources["limits"] + " env"
    else:
        facts["limits"], facts["log_level"] = None, None
        sources["limits"] = sources["log_level"] = "missing"
    return {"facts": facts, "sources": sources}


def _group_produced(manifests, namespace):
    """The produced objects of the environment's namespace (and its Namespace), grouped by kind. Secrets are
    left out: the report never reads them."""
    if not isinstance(manifests, list):
        raise VerifyInputError("the produced manifests must be a list of {path, object}, got %s" % type(manifests).__name__)
    objects = {}
    for index, entry in enumerate(manifests):
        obj = entry.get("object") if isinstance(entry, dict) else None
        if not isinstance(obj, dict) or not obj.get("kind"):
            raise VerifyInputError("produced manifest %d (%s) has no object with a kind"
                                   % (index, entry.get("path") if isinstance(entry, dict) else entry))
        if entry.get("secret") or obj["kind"] == "Secret":
            continue
        if obj["kind"] == "Namespace":
            if get(obj, "metadata", "name") != namespace:
                continue
        elif get(obj, "metadata", "namespace") != namespace:
            continue
        objects.setdefault(obj["kind"], []).append(obj)
    return objects


def produced_facts(manifests, names, namespace):
    """Reduce the produced manifest list (``[{path, object, ...}]``) to what the inventory wants, per row.

    A row the produced objects say nothing about is ``None`` ("(not set)", not compared): the data tier when its
    role did not run, the app's rows when no app HelmRelease was produced, storage unless both releases were.
    """
    objects = _group_produced(manifests, namespace)
    facts, sources = {}, {}
    _shared_rows(objects, names, facts, sources)
    if facts["postgresql"] is None or facts["redis"] is None:
        facts["storage"] = None
    app_hr = by_name(objects.get("HelmRelease"), names["app_release"])
    if not app_hr:
        for row in ("replicas", "hpa", "ingress", "limits", "log_level"):
            facts[row], sources[row] = None, "no app HelmRelease produced"
        return {"facts": facts, "sources": sources}
    values = _hr_values(app_hr)
    source = "HelmRelease %s values" % names["app_release"]
    autoscaling = values.get("autoscaling") or {}
    if autoscaling.get("enabled"):
        facts["replicas"] = {"min": autoscaling.get("minReplicas", 1), "max": autoscaling.get("maxReplicas")}
        facts["hpa"] = {"enabled": True, "min": facts["replicas"]["min"], "max": facts["replicas"]["max"],
                        "cpu": autoscaling.get("targetCPUUtilizationPercentage")}
    else:
        facts["replicas"] = {"replicas": values.get("replicaCount", 1)}
        facts["hpa"] = {"enabled": False}
    ingress = values.get("ingress") or {}
    facts["ingress"] = ({"hosts": [ingress["host"]], "tls": bool(get(ingress, "tls", "enabled"))}
                        if ingress.get("enabled") and ingress.get("host") else None)
    resources = values.get("resources") or {}
    facts["limits"] = {
        "cpu_request": get(resources, "requests", "cpu"), "cpu_limit": get(resources, "limits", "cpu"),
        "memory_request": get(resources, "requests", "memory"), "memory_limit": get(resources, "limits", "memory"),
    }
    facts["log_level"] = get(values, "app", "logLevel")
    for row in ("replicas", "hpa", "ingress", "limits", "log_level"):
        sources[row] = source
    return {"facts": facts, "sources": sources}
