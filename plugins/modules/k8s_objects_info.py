#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_objects_info
short_description: Read the objects of many kinds in one task (one LIST per kind, one HTTP session)
version_added: 0.1.0
description:
  - Lists every kind given in O(resources), in O(namespace) unless the entry names its own namespace, and gets
    the single objects an entry names, all in one process over one HTTP session. Returns the objects grouped by
    kind (or by the entry's O(resources[].key)).
  - A kind the API server does not serve (its CRD is not installed) reads as an empty list and is named in
    RV(not_served). An entry marked O(resources[].optional) that the credentials may not read (HTTP 403) reads as
    an empty list and is named in RV(forbidden). Any other error fails the task and names the kind, the
    namespace and the cause.
  - Never reads anything but what it is asked for, never changes anything.
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
  namespace:
    description: Namespace of the namespaced entries that name none.
    type: str
  resources:
    description: What to read, in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: API group/version, for example C(apps/v1).
        type: str
        required: true
      kind:
        description: Kind, for example C(Deployment).
        type: str
        required: true
      name:
        description: Only this object (a GET); without it every object of the kind is listed.
        type: str
      namespace:
        description: Namespace of this entry (default O(namespace); ignored for cluster-scoped kinds).
        type: str
      key:
        description: Key of the result in RV(objects) (default the kind). Entries with the same key are merged.
        type: str
      optional:
        description: Read as empty, instead of failing, when the credentials may not read it (HTTP 403).
        type: bool
        default: false
  drop_managed_fields:
    description: Leave out C(metadata.managedFields) (large, and of no use to a reader).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the environment's objects, the promotion record and the Flux Kustomizations in one task
  supertodo.platform.k8s_objects_info:
    namespace: staging
    resources:
      - {api_version: v1, kind: Namespace, name: staging}
      - {api_version: apps/v1, kind: Deployment}
      - {api_version: helm.toolkit.fluxcd.io/v2, kind: HelmRelease}
      - {api_version: v1, kind: ConfigMap, name: supertodo-promotions, namespace: production, key: promotion}
      - {api_version: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, namespace: flux-system, optional: true}
  register: env

- name: Names of the Deployments
  ansible.builtin.debug:
    msg: "{{ env.objects.Deployment | map(attribute='metadata.name') | list }}"
"""

RETURN = r"""
objects:
  description: The objects read, grouped by the entry's key (the kind by default); an empty list when none.
  returned: always
  type: dict
  sample: {"Deployment": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "super-todo"}}]}
not_served:
  description: Entries whose kind the API server does not serve (CRD not installed), read as empty.
  returned: always
  type: list
  elements: str
  sample: ["monitoring.coreos.com/v1 ServiceMonitor in namespace staging"]
forbidden:
  description: Optional entries the credentials may not read, read as empty, with the API server's answer.
  returned: always
  type: list
  elements: str
requests:
  description: HTTP requests sent (discovery included).
  returned: always
  type: int
  sample: 21
seconds:
  description: Time spent reading, in seconds.
  returned: always
  type: float
  sample: 0.12
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.kube.objects import read_objects


def argument_spec():
    spec = dict(CONNECTION_ARG_SPEC)
    spec.update(
        namespace={"type": "str"},
        resources={"type": "list", "elements": "dict", "required": True, "options": {
            "api_version": {"type": "str", "required": True},
            "kind": {"type": "str", "required": True},
            "name": {"type": "str"},
            "namespace": {"type": "str"},
            "key": {"type": "str", "no_log": False},
            "optional": {"type": "bool", "default": False},
        }},
        drop_managed_fields={"type": "bool", "default": True},
    )
    return spec


def run(params, client):
    """The module's result for ``params`` (also called by the action plugin, in the controller's process)."""
    result = read_objects(client, params["resources"], params["namespace"], params["drop_managed_fields"])
    result["changed"] = False
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module.params, KubeClient(module.params))
    except SupertodoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
