# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the promote role (roles/promote): gate verdicts from objects read with kubernetes.core.k8s_info, and
the promotion record's history.

Each gate filter returns ``{"name", "status" (passed|failed), "message", "evidence"}``: the message says what was
measured, so a passed gate is as informative as a failed one.
"""

from __future__ import annotations

import json


def _cond(obj, ctype):
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return {}


def _gate(name, problems, ok_message, evidence):
    if problems:
        return {"name": name, "status": "failed", "message": "; ".join(problems), "evidence": evidence}
    return {"name": name, "status": "passed", "message": ok_message, "evidence": evidence}


def staging_gate(hr, chart_version, tag, namespace="staging", name="super-todo"):
    """The staging HelmRelease is Ready for its current generation at the chart version and tag expected."""
    ref = "HelmRelease %s/%s" % (namespace, name)
    if not hr:
        return _gate("staging_ready", ["%s not found" % ref], "", {})
    meta = hr.get("metadata") or {}
    status = hr.get("status") or {}
    generation = meta.get("generation")
    ready = _cond(hr, "Ready")
    history = (status.get("history") or [{}])[0] or {}
    revision = history.get("chartVersion") or ""
    live_tag = str((((hr.get("spec") or {}).get("values") or {}).get("image") or {}).get("tag", ""))
    problems = []
    if ready.get("status") != "True":
        problems.append("%s is not Ready (Ready=%s %s: %s)" % (ref, ready.get("status", "missing"),
                                                               ready.get("reason", ""), ready.get("message", "")))
    if status.get("observedGeneration") != generation or ready.get("observedGeneration", generation) != generation:
        problems.append("%s generation %s is not the one reported (observed %s)" % (
            ref, generation, status.get("observedGeneration")))
    if revision.split("+", 1)[0] != str(chart_version):
        problems.append("%s runs chart version %s, the inventory renders %s" % (ref, revision or "(none)",
                                                                                chart_version))
    elif history.get("status") not in (None, "deployed"):
        problems.append("%s release %s is %s" % (ref, revision, history.get("status")))
    if status.get("lastAttemptedRevision") and status.get("lastAttemptedRevision") != revision:
        problems.append("%s last attempted %s but runs %s" % (ref, status.get("lastAttemptedRevision"), revision))
    if tag and live_tag != str(tag):
        problems.append("%s values image.tag is %s, not %s" % (ref, live_tag, tag))
    evidence = {"generation": generation, "revision": revision, "tag": live_tag,
                "ready": ready.get("status"), "ready_message": ready.get("message")}
    return _gate("staging_ready", problems, "%s Ready for generation %s at %s, image tag %s" % (
        ref, generation, revision, live_tag), evidence)


def smoke_gate(deployment, endpoints, image, namespace="staging", name="super-todo", container="super-todo"):
    """The app Deployment runs the image on all wanted replicas, Available, and its Service has ready endpoints."""
    ref = "Deployment %s/%s" % (namespace, name)
    if not deployment:
        return _gate("smoke", ["%s not found" % ref], "", {})
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    images = {c.get("name"): c.get("image") for c in ((spec.get("template") or {}).get("spec") or {}).get(
        "containers") or []}
    available = _cond(deployment, "Available")
    problems = []
    if images.get(container) != image:
        problems.append("%s container %s runs %s, not %s" % (ref, container, images.get(container), image))
    if available.get("status") != "True":
        problems.append("%s is not Available (%s: %s)" % (ref, available.get("reason", "no condition"),
                                                          available.get("message", "")))
    if status.get("observedGeneration", 0) < (deployment.get("metadata") or {}).get("generation", 0):
        problems.append("%s rollout of generation %s not observed yet" % (ref, deployment["metadata"]["generation"]))
    for field in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        if status.get(field, 0) < wanted:
            problems.append("%s has %s %s of %s wanted" % (ref, status.get(field, 0), field, wanted))
    ready_addresses = sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in (endpoints or {}).get("subsets") or [])
    if not endpoints:
        problems.append("Service %s/%s has no Endpoints object" % (namespace, name))
    elif ready_addresses < 1:
        problems.append("Service %s/%s has no ready endpoint (%s not ready)" % (namespace, name, not_ready))
    evidence = {"replicas": wanted, "available": status.get("availableReplicas", 0), "image": images.get(container),
                "ready_endpoints": ready_addresses}
    return _gate("smoke", problems, "%s Available with %s/%s replicas of %s; Service %s has %s ready endpoint(s)" % (
        ref, status.get("availableReplicas", 0), wanted, image, name, ready_addresses), evidence)


def history(configmap):
    """The records of the promotion ConfigMap, newest first ([] when there is none). Raises on a corrupt record:
    a promotion must not overwrite a history it cannot read."""
    data = ((configmap or {}).get("data") or {})
    if not data.get("history"):
        return []
    try:
        records = json.loads(data["history"])
    except ValueError as exc:
        raise ValueError("ConfigMap %s: key history is not JSON: %s" % (
            (configmap.get("metadata") or {}).get("name"), exc)) from exc
    if not isinstance(records, list):
        raise ValueError("ConfigMap %s: key history is not a JSON list" % (configmap.get("metadata") or {}).get("name"))
    return records


def rollback_target(records):
    """The last succeeded promotion (not a rollback run): what production ran before it."""
    for record in records or []:
        if record.get("result") == "succeeded" and record.get("mode", "promote") == "promote" and record.get("from"):
            return record
    return None


class FilterModule:
    """Filters of the supertodo.platform promote role."""

    def filters(self):
        return {"promote_staging_gate": staging_gate, "promote_smoke_gate": smoke_gate,
                "promote_history": history, "promote_rollback_target": rollback_target}
