#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: manifest_apply
short_description: Validate and server-side apply every manifest entry of an environment in one step
version_added: "0.1.0"
description:
  - Takes the C(__supertodo_manifests) entries (see docs/architecture.md) produced by the roles.
  - Validates every object before anything is sent; when one is invalid nothing is applied. Built-in kinds are
    checked with kubernetes-validate in strict mode at O(kubernetes_version), custom resources against the
    C(openAPIV3Schema) of the CRDs in O(schema_dir)C(/crds) (including fields the schema does not declare), and
    HelmRelease C(spec.values) against the chart's C(values.schema.json).
  - Applies the objects in dependency order of kind with server-side apply (C(application/apply-patch+yaml),
    field manager O(field_manager)). A no-op costs two API requests per object (a GET and the PATCH), plus a
    server-side dry run for each object another field manager also manages (see O(force_conflicts)).
  - Conflicts are named, not forced. Before anything is written, every object that another field manager (such
    as C(kustomize-controller), C(helm-controller) or a person's C(kubectl edit)) also manages is applied as a
    server-side dry run without force; when any would change a field another manager owns, the module fails and
    writes nothing, naming each object, field path and owning manager.
  - Where each kind lives (API discovery) is kept between runs, as kubectl keeps it, in a file per API server URL
    under E(SUPERTODO_DISCOVERY_CACHE_DIR) (default C(${XDG_CACHE_HOME:-~/.cache}/supertodo/discovery), mode
    0600, 6 hours); only kind names are stored. With a warm cache a no-op run makes no discovery request; a
    group/version that met a 404 is discovered again. Set E(SUPERTODO_DISCOVERY_CACHE_DIR=off) to switch it off.
  - Fails, naming the object and the field path, when the API server silently dropped a field it was sent
    (Kubernetes 1.20 and CRDs that lack a field prune unknown fields instead of refusing them).
  - Secret values are added to the module's no_log values at run time and Secret data is redacted from the
    results and the diff.
author:
  - Super-Todo maintainers (@andreqko)
extends_documentation_fragment:
  - supertodo.platform.connection
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Server-side dry-run (C(dryRun=All)); nothing is stored, resourceVersions stay the same.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Before and after of each changed object, Secret data redacted.
options:
  manifests:
    description:
      - The manifest entries, each a dict with C(object), C(path) and optionally C(secret).
    type: list
    elements: dict
    required: true
  secret_manifests:
    description:
      - The Secret entries (C(__supertodo_secret_manifests)), kept out of O(manifests) so that list can be printed.
        Applied with O(manifests), in the same dependency order of kind (Secrets before what reads them).
      - Declared C(no_log); their values are masked in every output, while names, kinds and namespaces stay
        readable.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  schema_dir:
    description:
      - Directory with C(crds/) (upstream CRDs) and C(chart-values/<chart>/) (chart values and schemas).
      - Defaults to E(SUPERTODO_SCHEMA_DIR).
      - When neither is set, custom resources are checked against the CRDs the cluster serves (one list request
        per run) and HelmRelease values against the schema of the charts in O(charts); what could not be checked
        is named in a warning.
    type: path
  charts:
    description:
      - Chart name to chart directory (holding C(values.yaml) and C(values.schema.json)) for charts that are
        not under O(schema_dir)C(/chart-values), such as this collection's own chart.
    type: dict
    default: {}
  kubernetes_version:
    description:
      - Kubernetes version whose schemas validate built-in kinds, such as the target cluster's. A version the
        offline schemas do not cover is checked with the nearest one they do (1.20 with 1.22).
    type: str
    default: "1.30.0"
  field_manager:
    description: The server-side apply field manager.
    type: str
    default: supertodo.platform
  force_conflicts:
    description:
      - Take over the fields other field managers own (server-side apply C(force=true)); RV(conflicts_taken) lists
        them. Off, a conflict fails the module before anything is written.
    type: bool
    default: false
    version_added: 0.1.0
  refuse_present:
    description:
      - Objects whose presence refuses the whole apply, checked after validation and before anything is written
        (also in check mode), such as the Flux Kustomizations that already apply the same objects from Git.
      - One list request per entry; a kind the API server does not serve counts as absent.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
    suboptions:
      api_version:
        description: apiVersion of the objects, such as C(kustomize.toolkit.fluxcd.io/v1).
        type: str
        required: true
      kind:
        description: Kind of the objects.
        type: str
        required: true
      namespace:
        description: Namespace to look in (omit for cluster-scoped kinds).
        type: str
      names:
        description: Names that refuse the apply when any of them exists.
        type: list
        elements: str
        required: true
      refusal:
        description:
          - The failure message; C({objects}) in it is replaced by the found objects (C(namespace/name), comma
            separated). "; nothing was applied" is appended.
        type: str
        required: true
"""

EXAMPLES = r"""
- name: Apply everything the roles produced
  supertodo.platform.manifest_apply:
    manifests: "{{ __supertodo_manifests }}"
    secret_manifests: "{{ __supertodo_secret_manifests }}"
    schema_dir: "{{ supertodo_schema_dir }}"
    charts:
      super-todo: "{{ playbook_dir }}/../charts/super-todo"
    kubeconfig: "{{ supertodo_kubeconfig }}"
    field_manager: supertodo.platform

- name: Take over fields someone changed with kubectl edit, listing them
  supertodo.platform.manifest_apply:
    manifests: "{{ __supertodo_manifests }}"
    force_conflicts: true
  register: applied

- name: Show what was taken over
  ansible.builtin.debug:
    var: applied.conflicts_taken

- name: Apply, unless Flux already applies this environment from Git
  supertodo.platform.manifest_apply:
    manifests: "{{ __supertodo_manifests }}"
    refuse_present:
      - api_version: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        namespace: flux-system
        names: [super-todo-staging, super-todo-staging-namespaces]
        refusal: "staging is delivered by Flux: Kustomization(s) {objects} exist"
"""

RETURN = r"""
objects:
  description: One item per object, in the order applied.
  returned: always
  type: list
  elements: dict
  sample:
    - ref: Namespace staging
      action: unchanged
      changed: false
      resource_version: "1234"
counts:
  description: Number of objects per action (create, update, unchanged).
  returned: always
  type: dict
  sample: {create: 0, update: 1, unchanged: 17}
conflicts_taken:
  description: Fields taken over from other field managers (only with O(force_conflicts)); empty otherwise.
  returned: always
  type: list
  elements: dict
  sample:
    - ref: HelmRelease staging/super-todo
      field: .spec.values.replicaCount
      manager: kubectl-edit
conflicts:
  description: On failure by conflict, each conflicting field with the manager that owns it; nothing was written.
  returned: failed
  type: list
  elements: dict
  sample:
    - ref: ConfigMap staging/settings
      field: .data.level
      manager: kubectl-edit
requests:
  description: API requests made, discovery included (no discovery request when the discovery cache is warm).
  returned: always
  type: int
  sample: 38
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import apply_manifests, protect_secrets


def argument_spec():
    spec = dict(
        manifests=dict(type="list", elements="dict", required=True),
        secret_manifests=dict(type="list", elements="dict", default=[], no_log=True),
        schema_dir=dict(type="path"),
        charts=dict(type="dict", default={}),
        kubernetes_version=dict(type="str", default="1.30.0"),
        field_manager=dict(type="str", default="supertodo.platform"),
        force_conflicts=dict(type="bool", default=False),
        refuse_present=dict(type="list", elements="dict", default=[], options=dict(
            api_version=dict(type="str", required=True),
            kind=dict(type="str", required=True),
            namespace=dict(type="str"),
            names=dict(type="list", elements="str", required=True),
            refusal=dict(type="str", required=True),
        )),
    )
    spec.update(CONNECTION_ARG_SPEC)
    return spec


def run(params, check_mode=False, diff=False):
    """The module's result for ``params`` (also called by the action plugin, in the controller's process); its
    ``warnings`` are the module's warnings."""
    params = dict(params)
    # the Secrets go after the other entries, so an entry's number in a message is its place in O(manifests)
    params["manifests"] = params["manifests"] + [dict(entry, secret=True) for entry in params.pop("secret_manifests")]
    params["schema_dir"] = params["schema_dir"] or os.environ.get("SUPERTODO_SCHEMA_DIR")
    return apply_manifests(params, check_mode=check_mode, diff=diff)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    protect_secrets(module)
    try:
        result = run(module.params, check_mode=module.check_mode, diff=module._diff)
    except SupertodoError as exc:
        module.fail_json(msg=str(exc), **getattr(exc, "partial", {}))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
