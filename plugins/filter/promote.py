# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the promote role (roles/promote): gate verdicts from objects read with kubernetes.core.k8s_info, and
the promotion record's history.

Each gate filter returns ``{"name", "status" (passed|failed), "message", "evidence"}``: the message says what was
measured, so a passed gate is as informative as a failed one.
"""

from __future__ import annotations

import datetime
import json
import re

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import age_text


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


def _stamp(value):
    stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def _seconds(value):
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not re.fullmatch(r"(\d+(\.\d+)?[smhdw])+", text):
        raise ValueError("promote_max_drill_age %r is not a duration (use e.g. 12h, 7d, 1w)" % (value,))
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return float(sum(float(n) * units[u] for n, _f, u in re.findall(r"(\d+(\.\d+)?)([smhdw])", text)))


def _drill_text(drill, now):
    age = (now - _stamp(drill.get("finished_at"))).total_seconds()
    return "%s drill %s of backup %s at %s, %s ago" % (
        drill.get("verdict"), drill.get("drill_id"), (drill.get("backup") or {}).get("backup_id"),
        drill.get("finished_at"), age_text(age)), age


def drill_gate(configmap, destination_path, server_name, max_age, where="", now=None):
    """A passed restore drill of the archive (destination_path + server_name) finished within max_age, read from
    the drill ConfigMap the restore_drill role writes. The message names the last drill and its age."""
    now = _stamp(now) if now else datetime.datetime.now(datetime.timezone.utc)
    limit = _seconds(max_age)
    archive = "%s/%s" % (str(destination_path).rstrip("/"), server_name)
    data = (configmap or {}).get("data") or {}
    try:
        records = json.loads(data.get("history") or "[]")
    except ValueError:
        records = None
    if not isinstance(records, list):
        return _gate("restore_drill", ["the drill record %s cannot be read (history is not a JSON list)" % where],
                     "", {})
    ours = [r for r in records if isinstance(r, dict) and "%s/%s" % (
        str((r.get("archive") or {}).get("destination_path", "")).rstrip("/"),
        (r.get("archive") or {}).get("server_name")) == archive and r.get("finished_at")]
    if not ours:
        return _gate("restore_drill", ["no restore drill of %s is recorded in %s: run playbooks/restore_drill.yml "
                                       "(it records its report there) or lift the gate with supertodo_overrides "
                                       "allow_promote_without_restore_drill" % (archive, where or "the cluster")],
                     "", {"archive": archive})
    last_text, _last_age = _drill_text(ours[0], now)
    passed = [r for r in ours if r.get("verdict") == "passed"]
    evidence = {"archive": archive, "last_drill": ours[0].get("drill_id"), "last_verdict": ours[0].get("verdict")}
    if not passed:
        return _gate("restore_drill", ["no passed restore drill of %s is recorded (last: %s)" % (archive, last_text)],
                     "", evidence)
    text, age = _drill_text(passed[0], now)
    evidence.update(passed_drill=passed[0].get("drill_id"), passed_age_seconds=round(age, 1),
                    rto_seconds=passed[0].get("rto_seconds"))
    if age > limit:
        return _gate("restore_drill", ["the last passed restore drill of %s is older than promote_max_drill_age %s "
                                       "(last passed: %s; last: %s)" % (archive, max_age, text, last_text)],
                     "", evidence)
    note = "" if passed[0] is ours[0] else " (a later drill: %s)" % last_text
    return _gate("restore_drill", [], "last passed: %s, RTO %ss, within promote_max_drill_age %s%s" % (
        text, passed[0].get("rto_seconds"), max_age, note), evidence)


class FilterModule:
    """Filters of the supertodo.platform promote role."""

    def filters(self):
        return {"promote_staging_gate": staging_gate, "promote_smoke_gate": smoke_gate,
                "promote_history": history, "promote_rollback_target": rollback_target,
                "promote_drill_gate": drill_gate}
