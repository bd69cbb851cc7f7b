#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: flux_reconcile
short_description: Ask Flux to reconcile objects now and wait until our request is handled
version_added: 0.1.0
description:
  - Triggers a reconcile the way the Flux CLI does, with a merge patch of the annotation
    C(reconcile.fluxcd.io/requestedAt) set to a fresh token (RFC 3339 time with nanoseconds).
  - For a HelmRelease, O(force=true) also sets C(reconcile.fluxcd.io/forceAt) and O(reset=true)
    C(reconcile.fluxcd.io/resetAt), both equal to the same token.
  - Success means C(status.lastHandledReconcileAt) is B(this request's) token or a later one (and so are
    C(lastHandledForceAt) / C(lastHandledResetAt) when set), C(status.observedGeneration) equals
    C(metadata.generation) and the Ready condition is True. The controller handles the newest request only, so a
    later request of another client, once handled, includes this one. An object that was already Ready before the
    request does not count until the token is handled.
  - The patches carry the field manager C(flux-client-side-apply), as the Flux CLI's do.
  - Fails at once, with the object's own reason and message, when the controller reports Stalled=True or Ready=False
    (no longer Reconciling) after handling the token.
  - Waits with a watch from the resourceVersion the trigger returned, never with a fixed sleep.
  - Reconciles a list of objects (O(objects)) in one task, in dependency order (C(spec.dependsOn)).
  - O(state=suspended) and O(state=resumed) set and clear C(spec.suspend); a resumed object is reconciled.
author:
  - Super-Todo maintainers (@andreqko)
extends_documentation_fragment:
  - supertodo.platform.connection
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Nothing is patched; the result shows the token and annotations that would be requested.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Shows the C(reconcile.fluxcd.io/*) annotations and C(spec.suspend) before and after.
options:
  kind:
    description:
      - Kind of the object (aliases such as C(hr), C(ks), C(gitrepo) are accepted).
      - Required unless O(objects) is given.
    type: str
    choices: [HelmRelease, Kustomization, GitRepository, HelmRepository, HelmChart, OCIRepository, Bucket,
              hr, ks, gitrepo, helmrepo, oci, bucket, chart]
  name:
    description: Name of the object. Required unless O(objects) is given.
    type: str
  namespace:
    description: Namespace of the object (and default namespace of the entries of O(objects)).
    type: str
    default: flux-system
  objects:
    description:
      - Several objects to reconcile in one task, in dependency order (C(spec.dependsOn)) then list order.
      - Stops at the first failure.
    type: list
    elements: dict
    suboptions:
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      namespace:
        description: Namespace of the object; defaults to O(namespace).
        type: str
  with_source:
    description:
      - Reconcile the object's source first and wait for it (the Kustomization's sourceRef; for a HelmRelease its
        chartRef, or the HelmChart C(<namespace>-<name>) helm-controller manages; for a HelmChart its sourceRef).
    type: bool
    default: false
  force:
    description: For a HelmRelease, force a one-off install or upgrade (C(reconcile.fluxcd.io/forceAt)).
    type: bool
    default: false
  reset:
    description: For a HelmRelease, reset the failure count (C(reconcile.fluxcd.io/resetAt)).
    type: bool
    default: false
  state:
    description:
      - V(reconciled) requests a reconcile (refused for a suspended object).
      - V(suspended) sets C(spec.suspend=true); V(resumed) clears it and requests a reconcile.
    type: str
    choices: [reconciled, suspended, resumed]
    default: reconciled
  wait:
    description: Wait for the controller to handle the request.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each object (and, separately, for its source). Must be positive; checked before anything
        is written.
    type: int
    default: 300
notes:
  - Flux controllers must run in the cluster; the CRDs must be served (source v1, helm v2, kustomize v1).
"""

EXAMPLES = r"""
- name: Reconcile the app release with its chart
  supertodo.platform.flux_reconcile:
    kind: HelmRelease
    name: super-todo
    namespace: staging
    with_source: true

- name: Reconcile every HelmRelease of the environment in dependency order
  supertodo.platform.flux_reconcile:
    namespace: production
    objects:
      - {kind: HelmRelease, name: postgres-production}
      - {kind: HelmRelease, name: redis-production}
      - {kind: HelmRelease, name: super-todo}
    with_source: true
    timeout: 600

- name: Force an upgrade and reset the failure count
  supertodo.platform.flux_reconcile:
    kind: HelmRelease
    name: super-todo
    namespace: staging
    force: true
    reset: true

- name: Suspend the release during maintenance
  supertodo.platform.flux_reconcile:
    kind: HelmRelease
    name: super-todo
    namespace: production
    state: suspended
"""

RETURN = r"""
token:
  description: The token of the request (single object).
  returned: when one object is reconciled or resumed
  type: str
  sample: "2026-11-28T09:30:01.123456789Z"
revision:
  description: Revision the controller reports (HelmRelease chart@version, Kustomization lastAppliedRevision,
    source artifact revision).
  returned: when one object is handled
  type: str
  sample: "main@sha1:3f1c2e..."
conditions:
  description: The object's status conditions after the request.
  returned: when one object is handled
  type: list
  elements: dict
duration:
  description: Seconds from the trigger to the controller's success.
  returned: when one object is handled
  type: float
  sample: 0.42
source:
  description: The same result for the source when O(with_source=true), else null.
  returned: when one object is handled
  type: dict
results:
  description: One result per object (kind, namespace, name, token, requested, revision, conditions, ready,
    duration, source), in the order they were reconciled.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.flux.errors import FluxError
from ansible_collections.supertodo.platform.plugins.module_utils.flux.service import FluxService
from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError

KIND_CHOICES = ["HelmRelease", "Kustomization", "GitRepository", "HelmRepository", "HelmChart", "OCIRepository",
                "Bucket", "hr", "ks", "gitrepo", "helmrepo", "oci", "bucket", "chart"]


def argument_spec():
    spec = dict(CONNECTION_ARG_SPEC)
    spec.update(
        kind={"type": "str", "choices": KIND_CHOICES},
        name={"type": "str"},
        namespace={"type": "str", "default": "flux-system"},
        objects={"type": "list", "elements": "dict", "options": {
            "kind": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str"},
        }},
        with_source={"type": "bool", "default": False},
        force={"type": "bool", "default": False},
        reset={"type": "bool", "default": False},
        state={"type": "str", "choices": ["reconciled", "suspended", "resumed"], "default": "reconciled"},
        wait={"type": "bool", "default": True},
        timeout={"type": "int", "default": 300},
    )
    return spec


def run(module, client):
    """Do what the parameters ask; returns the module result (raises FluxError / SupertodoError)."""
    p = module.params
    service = FluxService(client, check_mode=module.check_mode)
    if p["objects"]:
        refs = [{"kind": o["kind"], "name": o["name"], "namespace": o.get("namespace") or p["namespace"]}
                for o in p["objects"]]
        if p["state"] != "reconciled":
            results = [service.set_suspended(r["kind"], r["namespace"], r["name"], p["state"] == "suspended",
                                             p["timeout"], p["wait"], p["force"], p["reset"]) for r in refs]
        else:
            results = service.reconcile_many(refs, p["with_source"], p["force"], p["reset"], p["timeout"], p["wait"])
        single = None
    else:
        if p["state"] == "reconciled":
            single = service.reconcile(p["kind"], p["namespace"], p["name"], p["with_source"], p["force"], p["reset"],
                                       p["timeout"], p["wait"])
        else:
            single = service.set_suspended(p["kind"], p["namespace"], p["name"], p["state"] == "suspended",
                                           p["timeout"], p["wait"], p["force"], p["reset"])
        results = [single]
    return format_result(module, results, single)


def format_result(module, results, single):
    diffs = [r.pop("diff", None) for r in results]
    for r in results:
        if isinstance(r.get("source"), dict):
            r["source"].pop("diff", None)
    out = {"changed": any(r["changed"] for r in results), "results": results}
    if single is not None:
        for key in ("kind", "namespace", "name", "token", "revision", "conditions", "duration", "source", "ready"):
            out[key] = single.get(key)
        if module._diff:
            out["diff"] = diffs[0]
    elif module._diff:
        out["diff"] = [d for d in diffs if d]
    return out


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[("name", "objects")],
        mutually_exclusive=[("name", "objects")],
        required_by={"name": ("kind",)},
        supports_check_mode=True,
    )
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %d" % module.params["timeout"])
    try:
        client = KubeClient(module.params)
        result = run(module, client)
    except FluxError as exc:
        module.fail_json(msg=str(exc), changed=_patched(module, exc), **_failure(exc))
    except SupertodoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def _patched(module, exc):
    """Whether the failed run had already written a request (a timeout or failure after the trigger)."""
    if module.check_mode:
        return False
    result = exc.result or {}
    return bool(result.get("results") or result.get("token") or (result.get("failed") or {}).get("token"))


def _failure(exc):
    """The partial result of a failed request, without the diff (the keys fail_json may carry)."""
    result = dict(exc.result or {})
    result.pop("diff", None)
    failed = result.get("failed")
    if isinstance(failed, dict):
        failed.pop("diff", None)
    for r in result.get("results") or []:
        r.pop("diff", None)
    result.pop("changed", None)
    result.pop("object", None)
    return {"details": result}


if __name__ == "__main__":
    main()
