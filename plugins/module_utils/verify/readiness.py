# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ready verdict of an environment from its live HelmReleases and Deployments."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.verify.common import condition, get


def readiness(objects):
    """Ready verdict: every HelmRelease Ready=True and every Deployment Available=True (and at least one of each)."""
    problems, items = [], []
    hrs = objects.get("HelmRelease") or []
    deployments = objects.get("Deployment") or []
    for hr in hrs:
        name = "HelmRelease %s" % get(hr, "metadata", "name")
        cond = condition(hr, "Ready")
        ok = bool(cond and cond.get("status") == "True")
        if ok and get(hr, "status", "observedGeneration", default=-1) not in (-1, get(hr, "metadata", "generation")):
            ok, cond = False, dict(cond, message="status is for generation %s, spec is generation %s" % (
                get(hr, "status", "observedGeneration"), get(hr, "metadata", "generation")))
        items.append({"object": name, "ready": ok, "reason": (cond or {}).get("reason", "NoReadyCondition"),
                      "message": (cond or {}).get("message", "no Ready condition")})
    for deployment in deployments:
        name = "Deployment %s" % get(deployment, "metadata", "name")
        cond = condition(deployment, "Available")
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
