#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_versions
short_description: Read the Kubernetes version of the API server and the API version each given kind is served in
version_added: 0.1.0
description:
  - Reads C(/version) of the API server (one request) and, for each kind of O(kinds), the group/version that
    serves it, the group's preferred version first (two or three requests per kind).
  - The objects that differ per Kubernetes version are rendered from these, e.g. a CronJob is C(batch/v1) from
    Kubernetes 1.21 and C(batch/v1beta1) before. Never changes anything.
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
  kinds:
    description: The kinds whose served API version is returned in RV(served).
    type: list
    elements: dict
    default: []
    suboptions:
      group:
        description: The API group (empty for the core group).
        type: str
        default: ""
      kind:
        description: The kind.
        type: str
        required: true
"""

EXAMPLES = r"""
- name: Read the cluster's version and where it serves CronJobs
  supertodo.platform.cluster_versions:
    kinds:
      - {group: batch, kind: CronJob}
  register: cluster

- name: Render the CronJob for that cluster
  ansible.builtin.debug:
    msg: "Kubernetes {{ cluster.kubernetes_version }}: apiVersion {{ cluster.served.CronJob }}"
"""

RETURN = r"""
kubernetes_version:
  description: The server's version as major.minor.patch.
  returned: always
  type: str
  sample: "1.20.2"
git_version:
  description: The server's gitVersion as reported.
  returned: always
  type: str
  sample: "v1.20.2"
served:
  description: For each kind of O(kinds), the apiVersion it is served in; a kind the server does not serve is absent.
  returned: always
  type: dict
  sample: {CronJob: batch/v1beta1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.kube.versions import served_api_version, server_version


ERROR_PREFIX = "reading the cluster's version: "


def argument_spec():
    spec = dict(CONNECTION_ARG_SPEC)
    spec.update(
        kinds={"type": "list", "elements": "dict", "default": [],
               "options": {"group": {"type": "str", "default": ""}, "kind": {"type": "str", "required": True}}},
    )
    return spec


def run(params, client):
    """The module's result for ``params`` (also called by the action plugin, in the controller's process)."""
    version, git_version = server_version(client)
    served = {}
    for item in params["kinds"]:
        found = served_api_version(client, item["group"] or "", item["kind"])
        if found:
            served[item["kind"]] = found
    return {"changed": False, "kubernetes_version": version, "git_version": git_version, "served": served}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module.params, KubeClient(module.params))
    except SupertodoError as exc:
        module.fail_json(msg=ERROR_PREFIX + str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
