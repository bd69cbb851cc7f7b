#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: flux_info
short_description: List Flux objects with their readiness, revision and last handled request (like flux get)
version_added: 0.1.0
description:
  - Lists HelmReleases, Kustomizations and sources (GitRepository, OCIRepository, HelmRepository, Bucket,
    HelmChart) of one kind or of all kinds, in one namespace or in all namespaces.
  - For each object returns ready, suspended, revision, the last handled reconcile token, the Ready message and
    the age. Never changes anything.
author:
  - Super-Todo maintainers (@andreqko)
extends_documentation_fragment:
  - supertodo.platform.connection
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: The module only reads.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: The module changes nothing.
options:
  kind:
    description: One kind (aliases such as C(hr) accepted); all Flux kinds when omitted.
    type: str
  name:
    description: Only the object with this name.
    type: str
  namespace:
    description: Namespace to list; ignored when O(all_namespaces=true).
    type: str
    default: flux-system
  all_namespaces:
    description: List every namespace.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: List the HelmReleases of staging
  supertodo.platform.flux_info:
    kind: HelmRelease
    namespace: staging
  register: releases

- name: Show which releases are not ready
  ansible.builtin.debug:
    msg: "{{ releases.objects | rejectattr('ready') | map(attribute='name') | list }}"

- name: Everything Flux manages, everywhere
  supertodo.platform.flux_info:
    all_namespaces: true
"""

RETURN = r"""
objects:
  description: One entry per object, sources first then Kustomizations then HelmReleases.
  returned: always
  type: list
  elements: dict
  contains:
    kind: {description: Kind., type: str, returned: always}
    namespace: {description: Namespace., type: str, returned: always}
    name: {description: Name., type: str, returned: always}
    ready: {description: Whether the Ready condition is True., type: bool, returned: always}
    ready_status: {description: "Status of the Ready condition: True, False or Unknown.", type: str, returned: always}
    suspended: {description: spec.suspend., type: bool, returned: always}
    revision: {description: Applied or fetched revision., type: str, returned: always, sample: "main@sha1:3f1c2e"}
    last_handled_reconcile_at: {description: status.lastHandledReconcileAt., type: str, returned: always}
    reason: {description: Reason of the Ready condition., type: str, returned: always}
    message: {description: Message of the Ready condition., type: str, returned: always}
    age: {description: Seconds since the object was created., type: int, returned: always}
    conditions: {description: The status conditions., type: list, elements: dict, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.flux.service import FluxService
from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError


def argument_spec():
    spec = dict(CONNECTION_ARG_SPEC)
    spec.update(
        kind={"type": "str"},
        name={"type": "str"},
        namespace={"type": "str", "default": "flux-system"},
        all_namespaces={"type": "bool", "default": False},
    )
    return spec


def run(module, client):
    p = module.params
    namespace = None if p["all_namespaces"] else p["namespace"]
    return {"changed": False, "objects": FluxService(client).info(p["kind"], namespace, p["name"])}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module, KubeClient(module.params))
    except SupertodoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
