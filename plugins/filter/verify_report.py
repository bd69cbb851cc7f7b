# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the verify role (roles/verify): the environment report built from live objects.

``supertodo.platform.verify_live(objects, names)`` reduces the objects read with kubernetes.core.k8s_info to one fact per
row of the current setup's comparison table; ``supertodo.platform.verify_report(live, wanted, ...)`` puts it next to what the
inventory wants, marks drift and adds the readiness verdict; ``verify_table`` / ``verify_markdown``
format it. Both sides of a row are formatted by the same function, and drift compares normalised values
(quantities as numbers, log levels case-folded, host lists sorted), so ``1000m`` and ``1`` are not drift.
"""

from __future__ import annotations

import json
import re

ROWS = (
    ("namespace", "Namespace"),
    ("replicas", "Replicas"),
    ("postgresql", "PostgreSQL"),
    ("redis", "Redis"),
    ("storage", "Storage"),
    ("ingress", "Ingress"),
    ("limits", "Resource limits"),
    ("hpa", "HPA"),
    ("monitoring", "Monitoring"),
    ("backups", "Backups"),
    ("log_level", "Log level"),
    ("network_policies", "Network policies"),
)

_SUFFIX = {
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40, "Pi": 2.0 ** 50, "Ei": 2.0 ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_LOG_LEVELS = {"warn": "warning", "err": "error", "dbg": "debug", "information": "info", "fatal": "critical"}


class VerifyInputError(ValueError):
    """The wanted values or the objects have a shape the report cannot use."""


def quantity(value):
    """Kubernetes quantity -> float (``"250m"`` -> 0.25, ``"1Gi"`` -> 1073741824.0); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise VerifyInputError("%r is not a Kubernetes quantity" % (value,))
    return float(match.group(1)) * _SUFFIX[match.group(2) or ""]


def _get(obj, *path, default=None):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def _condition(obj, ctype):
    for cond in _get(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _by_name(items, name):
    for item in items or []:
        if _get(item, "metadata", "name") == name:
            return item
    return None


def _hr_values(hr):
    return _get(hr, "spec", "values", default={}) or {}


def _hr_chart(hr):
    return _get(hr, "spec", "chart", "spec", "chart") or _get(hr, "spec", "chartRef", "name")


# --------------------------------------------------------------------------------------------------------------------
# live side
# --------------------------------------------------------------------------------------------------------------------
def _app_container(deployment, app_name):
    containers = _get(deployment, "spec", "template", "spec", "containers", default=[]) or []
    for container in containers:
        if container.get("name") == app_name:
            return container
    return containers[0] if containers else None


_LOG_LEVEL_NAMES = ("LOG_LEVEL", "LOGLEVEL", "LOG_LVL")


def _log_level(container, configmaps):
    if not container:
        return None
    for env in container.get("env") or []:
        if env.get("name", "").upper() in _LOG_LEVEL_NAMES:
            if "value" in env:
                return env["value"]
            ref = _get(env, "valueFrom", "configMapKeyRef")
            if ref:
                return _get(_by_name(configmaps, ref.get("name")), "data", ref.get("key"))
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            data = _get(_by_name(configmaps, ref.get("name")), "data", default={}) or {}
            for key in _LOG_LEVEL_NAMES:
                if key in data:
                    return data[key]
    return None


def _network_policy_mode(policies):
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


def live_facts(objects, names):
    """Reduce live objects (``{kind: [objects]}``) to one fact per row. ``names``: the objects' names."""
    objects = objects or {}
    facts, sources = {}, {}

    namespace = (objects.get("Namespace") or [None])[0]
    facts["namespace"] = _get(namespace, "metadata", "name") if namespace else None
    sources["namespace"] = "Namespace" if namespace else "missing"

    hrs = objects.get("HelmRelease") or []
    app_hr = _by_name(hrs, names["app_release"])
    pg_hr = _by_name(hrs, names["postgres_release"])
    redis_hr = _by_name(hrs, names["redis_release"])
    deployment = _by_name(objects.get("Deployment"), names["app_deployment"])
    hpa = None
    for item in objects.get("HorizontalPodAutoscaler") or []:
        if _get(item, "spec", "scaleTargetRef", "name") == names["app_deployment"]:
            hpa = item

    # replicas and HPA
    if hpa:
        facts["replicas"] = {"min": _get(hpa, "spec", "minReplicas", default=1), "max": _get(hpa, "spec", "maxReplicas")}
        sources["replicas"] = "HorizontalPodAutoscaler %s" % _get(hpa, "metadata", "name")
        facts["hpa"] = {"enabled": True, "min": facts["replicas"]["min"], "max": facts["replicas"]["max"],
                        "cpu": _get(hpa, "spec", "targetCPUUtilizationPercentage")}
        sources["hpa"] = sources["replicas"]
    else:
        facts["hpa"] = {"enabled": False}
        sources["hpa"] = "no HorizontalPodAutoscaler"
        if deployment:
            facts["replicas"] = {"replicas": _get(deployment, "spec", "replicas", default=1)}
            sources["replicas"] = "Deployment %s" % names["app_deployment"]
        else:
            facts["replicas"] = None
            sources["replicas"] = "missing"

    # PostgreSQL: the CloudNativePG Cluster when it exists, else the values of its HelmRelease
    cluster = _by_name(objects.get("Cluster"), names["postgres_cluster"])
    pg_values = _get(_hr_values(pg_hr), "cluster", default={}) or {}
    if cluster:
        facts["postgresql"] = {"instances": _get(cluster, "spec", "instances", default=1)}
        pg_storage = _get(cluster, "spec", "storage", "size")
        sources["postgresql"] = "Cluster %s" % names["postgres_cluster"]
    elif pg_hr:
        facts["postgresql"] = {"instances": pg_values.get("instances", 3)}
        pg_storage = _get(pg_values, "storage", "size", default="8Gi")
        sources["postgresql"] = "HelmRelease %s values" % names["postgres_release"]
    else:
        facts["postgresql"], pg_storage = None, None
        sources["postgresql"] = "missing"

    # Redis: the chart of its HelmRelease says standalone/replication (redis) or cluster (redis-cluster)
    redis_values = _hr_values(redis_hr)
    redis_storage = None
    if redis_hr:
        if _hr_chart(redis_hr) == "redis-cluster":
            facts["redis"] = {"mode": "cluster", "nodes": _get(redis_values, "cluster", "nodes", default=6),
                              "replicas": _get(redis_values, "cluster", "replicas", default=1)}
            redis_storage = _get(redis_values, "persistence", "size", default="8Gi")
        else:
            facts["redis"] = {"mode": redis_values.get("architecture", "replication")}
            redis_storage = _get(redis_values, "master", "persistence", "size", default="8Gi")
        sources["redis"] = "HelmRelease %s (chart %s) values" % (names["redis_release"], _hr_chart(redis_hr))
    else:
        facts["redis"] = None
        sources["redis"] = "missing"
    facts["storage"] = {"postgres": pg_storage, "redis": redis_storage}
    sources["storage"] = "%s; %s" % (sources["postgresql"], sources["redis"])

    # ingress
    hosts, tls = [], False
    for ingress in objects.get("Ingress") or []:
        for rule in _get(ingress, "spec", "rules", default=[]) or []:
            if rule.get("host"):
                hosts.append(rule["host"])
        tls = tls or bool(_get(ingress, "spec", "tls"))
    facts["ingress"] = {"hosts": sorted(set(hosts)), "tls": tls} if hosts else None
    sources["ingress"] = "Ingress" if hosts else "no Ingress"

    # limits and log level: the app container of the Deployment
    container = _app_container(deployment, names["app_container"])
    if container is not None:
        resources = container.get("resources") or {}
        facts["limits"] = {
            "cpu_request": _get(resources, "requests", "cpu"), "cpu_limit": _get(resources, "limits", "cpu"),
            "memory_request": _get(resources, "requests", "memory"), "memory_limit": _get(resources, "limits", "memory"),
        }
        sources["limits"] = "Deployment %s container %s" % (names["app_deployment"], container.get("name"))
        facts["log_level"] = _log_level(container, objects.get("ConfigMap"))
        sources["log_level"] = sources["limits"] + " env"
    else:
        facts["limits"], facts["log_level"] = None, None
        sources["limits"] = sources["log_level"] = "missing"

    # monitoring: monitors that exist, and the monitoring switches in the HelmRelease values
    monitors = ["ServiceMonitor %s" % _get(m, "metadata", "name") for m in objects.get("ServiceMonitor") or []]
    monitors += ["PodMonitor %s" % _get(m, "metadata", "name") for m in objects.get("PodMonitor") or []]
    switches = []
    if _get(pg_values, "monitoring", "enabled"):
        switches.append("%s monitoring" % names["postgres_release"])
    if _get(redis_values, "metrics", "enabled"):
        switches.append("%s metrics" % names["redis_release"])
    if _get(_hr_values(app_hr), "serviceMonitor", "enabled") or _get(_hr_values(app_hr), "monitoring", "enabled"):
        switches.append("%s serviceMonitor" % names["app_release"])
    facts["monitoring"] = {"enabled": bool(monitors or switches)}
    sources["monitoring"] = ", ".join(sorted(monitors) + switches) or "no monitors, no monitoring values"

    # backups: the ScheduledBackup and the ObjectStore
    scheduled = objects.get("ScheduledBackup") or []
    stores = objects.get("ObjectStore") or []
    if scheduled or stores:
        facts["backups"] = {
            "enabled": True,
            "destination": _get(stores[0], "spec", "configuration", "destinationPath") if stores else None,
            "schedule": _get(scheduled[0], "spec", "schedule") if scheduled else None,
        }
        sources["backups"] = ", ".join(["ScheduledBackup %s" % _get(s, "metadata", "name") for s in scheduled]
                                       + ["ObjectStore %s" % _get(s, "metadata", "name") for s in stores])
    else:
        facts["backups"] = {"enabled": False}
        sources["backups"] = "no ScheduledBackup, no ObjectStore"

    facts["network_policies"] = _network_policy_mode(objects.get("NetworkPolicy") or [])
    sources["network_policies"] = "%d NetworkPolicy objects" % facts["network_policies"]["count"]
    return {"facts": facts, "sources": sources}


def readiness(objects):
    """Ready verdict: every HelmRelease Ready=True and every Deployment Available=True (and at least one of each)."""
    problems, items = [], []
    hrs = objects.get("HelmRelease") or []
    deployments = objects.get("Deployment") or []
    for hr in hrs:
        name = "HelmRelease %s" % _get(hr, "metadata", "name")
        cond = _condition(hr, "Ready")
        ok = bool(cond and cond.get("status") == "True")
        if ok and _get(hr, "status", "observedGeneration", default=-1) not in (-1, _get(hr, "metadata", "generation")):
            ok, cond = False, dict(cond, message="status is for generation %s, spec is generation %s" % (
                _get(hr, "status", "observedGeneration"), _get(hr, "metadata", "generation")))
        items.append({"object": name, "ready": ok, "reason": (cond or {}).get("reason", "NoReadyCondition"),
                      "message": (cond or {}).get("message", "no Ready condition")})
    for deployment in deployments:
        name = "Deployment %s" % _get(deployment, "metadata", "name")
        cond = _condition(deployment, "Available")
        ok = bool(cond and cond.get("status") == "True")
        items.append({"object": name, "ready": ok, "reason": (cond or {}).get("reason", "NoAvailableCondition"),
                      "message": (cond or {}).get("message", "no Available condition")})
    for item in items:
        if not item["ready"]:
            problems.append("%s not ready: %s: %s" % (item["object"], item["reason"], item["message"]))
    if not hrs:
        problems.append("no HelmRelease in the namespace")
    if not deployments:
        problems.append("no Deployment in the namespace")
    return {"ready": not problems, "problems": problems, "objects": items}


# --------------------------------------------------------------------------------------------------------------------
# formatting and comparison (the same for both sides)
# --------------------------------------------------------------------------------------------------------------------
def _fmt_pair(low, high):
    if low is None and high is None:
        return None
    return "%s-%s" % (low if low is not None else "?", high if high is not None else "?")


def display(row, value):
    """Human text of one row's value."""
    if value is None:
        return "missing"
    if row == "namespace":
        return str(value)
    if row == "replicas":
        if "min" in value:
            return "%s-%s (HPA)" % (value.get("min"), value.get("max"))
        return str(value.get("replicas"))
    if row == "postgresql":
        n = int(value.get("instances") or 0)
        return "1 instance" if n == 1 else "%d-node HA cluster" % n
    if row == "redis":
        if value.get("mode") == "cluster":
            return "cluster, %s nodes (%s replica each)" % (value.get("nodes"), value.get("replicas"))
        return str(value.get("mode"))
    if row == "storage":
        return "PostgreSQL %s, Redis %s" % (value.get("postgres") or "-", value.get("redis") or "-")
    if row == "ingress":
        return "%s%s" % (", ".join(value.get("hosts") or []), " (TLS)" if value.get("tls") else "")
    if row == "limits":
        cpu = _fmt_pair(value.get("cpu_request"), value.get("cpu_limit"))
        mem = _fmt_pair(value.get("memory_request"), value.get("memory_limit"))
        if cpu is None and mem is None:
            return "none"
        return "CPU %s, memory %s" % (cpu or "-", mem or "-")
    if row == "hpa":
        if not value.get("enabled"):
            return "disabled"
        text = "enabled (%s-%s pods" % (value.get("min"), value.get("max"))
        if value.get("cpu") is not None:
            text += ", CPU %s%%" % value.get("cpu")
        return text + ")"
    if row == "monitoring":
        return "enabled" if value.get("enabled") else "disabled"
    if row == "backups":
        if not value.get("enabled"):
            return "disabled"
        details = [d for d in (value.get("destination"), value.get("schedule") and "schedule %s" % value["schedule"]) if d]
        return "enabled" + (" (%s)" % ", ".join(details) if details else "")
    if row == "log_level":
        return str(value)
    if row == "network_policies":
        return value.get("mode") if isinstance(value, dict) else str(value)
    raise VerifyInputError("unknown report row %r" % row)


def normalise(row, value):
    """The comparable form of a row's value: what counts for drift."""
    if value is None:
        return None
    if row == "replicas":
        if "min" in value:
            return ("hpa", int(value["min"]), int(value["max"]))
        return ("fixed", int(value["replicas"]))
    if row == "postgresql":
        return int(value.get("instances") or 0)
    if row == "redis":
        if value.get("mode") == "cluster":
            return ("cluster", int(value.get("nodes") or 0), int(value.get("replicas") or 0))
        return (value.get("mode"),)
    if row == "storage":
        return (quantity(value.get("postgres")), quantity(value.get("redis")))
    if row == "ingress":
        return (tuple(sorted(value.get("hosts") or [])), bool(value.get("tls")))
    if row == "limits":
        return tuple(quantity(value.get(k)) for k in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"))
    if row == "hpa":
        if not value.get("enabled"):
            return (False,)
        cpu = value.get("cpu")
        return (True, int(value.get("min") or 1), int(value.get("max") or 0), int(cpu) if cpu is not None else None)
    if row == "monitoring":
        return bool(value.get("enabled"))
    if row == "backups":
        if not value.get("enabled"):
            return (False,)
        return (True, (value.get("destination") or "").rstrip("/") or None, value.get("schedule"))
    if row == "log_level":
        level = str(value).strip().lower()
        return _LOG_LEVELS.get(level, level)
    if row == "network_policies":
        return value.get("mode") if isinstance(value, dict) else str(value)
    return value


def _compare(row, wanted, live):
    """(drift?, note). A wanted value of None means the inventory does not say: not compared."""
    if wanted is None:
        return False, "not set in the inventory"
    want, have = normalise(row, wanted), normalise(row, live)
    if row == "hpa" and want and want[0] and have and have[0] and want[3] is None:
        have = have[:3] + (None,)  # the inventory sets no CPU target: compare min/max only
    if row == "backups" and want and want[0] and have and have[0] and want[2] is None:
        have = have[:2] + (None,)  # the inventory sets no schedule: compare the destination only
    return want != have, ""


def build_report(live, wanted, environment, namespace, objects, promotion=None, generated_at=None):
    """The whole report: rows (wanted vs live, drift), readiness, the last promotion record."""
    if not isinstance(wanted, dict):
        raise VerifyInputError("wanted values must be a dict, got %s" % type(wanted).__name__)
    rows = []
    for key, label in ROWS:
        want = wanted.get(key)
        have = live["facts"].get(key)
        try:
            drift, note = _compare(key, want, have)
        except (VerifyInputError, TypeError, ValueError) as exc:
            raise VerifyInputError("row %s: %s (wanted %r, live %r)" % (label, exc, want, have)) from exc
        rows.append({
            "key": key, "feature": label,
            "wanted": display(key, want) if want is not None else "(not set)",
            "live": display(key, have),
            "drift": drift, "note": note, "live_source": live["sources"].get(key, ""),
            "wanted_value": want, "live_value": have,
        })
    ready = readiness(objects)
    return {
        "environment": environment, "namespace": namespace, "generated_at": generated_at,
        "ready": ready["ready"], "problems": ready["problems"], "objects": ready["objects"],
        "drift": [r["feature"] for r in rows if r["drift"]], "rows": rows,
        "last_promotion": parse_promotion(promotion),
    }


def parse_promotion(configmap):
    """The last promotion record from the ``supertodo-promotions`` ConfigMap, or None."""
    if not configmap:
        return None
    data = _get(configmap, "data", default={}) or {}
    raw = data.get("last")
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return {"error": "ConfigMap %s: key last is not JSON: %s" % (_get(configmap, "metadata", "name"), exc)}
    return record if isinstance(record, dict) else {"error": "key last is not a JSON object"}


def text_table(report):
    """The report as fixed-width text lines (for the task output)."""
    header = ("Feature", "Inventory wants", "Live", "Drift")
    lines_data = [header] + [(r["feature"], r["wanted"], r["live"], "DRIFT" if r["drift"] else "") for r in report["rows"]]
    widths = [max(len(str(line[i])) for line in lines_data) for i in range(4)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    lines = ["%s (namespace %s): %s" % (report["environment"], report["namespace"],
                                        "Ready" if report["ready"] else "NOT READY")]
    lines.append((fmt % header).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines.extend((fmt % line).rstrip() for line in lines_data[1:])
    if report["drift"]:
        lines.append("drift: %s" % ", ".join(report["drift"]))
    for problem in report["problems"]:
        lines.append("not ready: %s" % problem)
    promo = report.get("last_promotion")
    lines.append("last promotion: %s" % promotion_text(promo))
    return lines


def promotion_text(record):
    if not record:
        return "none recorded"
    if "error" in record:
        return record["error"]
    return "%s -> %s, %s, by %s at %s" % (record.get("from"), record.get("to"), record.get("result"),
                                          record.get("who"), record.get("when"))


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report):
    """The report as a Markdown document."""
    out = ["# Environment report: %s" % report["environment"], ""]
    out.append("- Namespace: `%s`" % report["namespace"])
    if report.get("generated_at"):
        out.append("- Generated: %s" % report["generated_at"])
    out.append("- Status: **%s**" % ("Ready" if report["ready"] else "NOT READY"))
    out.append("- Drift: %s" % (", ".join(report["drift"]) if report["drift"] else "none"))
    out.append("- Last promotion: %s" % _md(promotion_text(report.get("last_promotion"))))
    out += ["", "| Feature | Inventory wants | Live | Drift | Live source |", "| --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        out.append("| %s | %s | %s | %s | %s |" % (
            _md(r["feature"]), _md(r["wanted"]), _md(r["live"]), "**DRIFT**" if r["drift"] else "", _md(r["live_source"])))
    out += ["", "## Readiness", "", "| Object | Ready | Reason | Message |", "| --- | --- | --- | --- |"]
    for item in report["objects"]:
        out.append("| %s | %s | %s | %s |" % (_md(item["object"]), "yes" if item["ready"] else "**no**",
                                              _md(item["reason"]), _md(item["message"])))
    for problem in report["problems"]:
        if problem.startswith("no "):
            out.append("")
            out.append("- %s" % problem)
    return "\n".join(out) + "\n"


class FilterModule:
    """Filters of the supertodo.platform verify role."""

    def filters(self):
        return {
            "verify_live": live_facts,
            "verify_report": build_report,
            "verify_readiness": readiness,
            "verify_table": text_table,
            "verify_markdown": markdown,
        }
