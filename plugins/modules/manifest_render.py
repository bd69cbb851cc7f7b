#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: manifest_render
short_description: Validate the manifest entries and write them as the GitOps tree Flux pulls
version_added: "0.1.0"
description:
  - Takes the C(__supertodo_manifests) entries (see docs/architecture.md) and writes each non-Secret object to its
    C(path) under O(dest); entries sharing a path become one multi-document YAML file, in kind order.
  - Secret entries are never written.
  - Validates every object first, as M(supertodo.platform.manifest_apply) does; nothing is written when one is
    invalid.
  - Copies the directories in O(copies) (the chart).
  - Writes a C(kustomization.yaml) in every directory a Flux Kustomization of the tree points at (its
    C(spec.path), relative to the repository root, read through O(git_path)) and in the directory holding the
    Flux Kustomizations (the cluster folder the bootstrap points at). Each lists every manifest file under it that
    is not under a deeper such directory, so that C(kubectl kustomize) builds it and every object is applied by
    exactly one Flux Kustomization. A rendered file that no Flux Kustomization reaches fails the render. Without
    Flux Kustomizations, every directory holding manifest files gets one listing its files.
  - Rendering a second environment into the same O(dest) adds its files (the Flux Kustomizations already in the
    tree count); the shared ones are rewritten with the same bytes. A C(kustomization.yaml) this module wrote in a
    directory that no longer needs one is removed, and so is every file this module wrote under O(owned) that the
    render does not produce again.
  - Fails before writing anything when a HelmRelease takes its chart from a GitRepository at a path that is not a
    chart of the tree.
  - Reports changed only when a file's bytes differ.
author:
  - Super-Todo maintainers (@andreqko)
extends_documentation_fragment:
  - supertodo.platform.connection
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Computes the files and compares them with the disk; writes nothing.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Old and new text of every file that differs.
options:
  manifests:
    description: The manifest entries, each a dict with C(object), C(path) and optionally C(secret).
    type: list
    elements: dict
    required: true
  dest:
    description: Root of the rendered tree (the current setup's C(flux-cd/)).
    type: path
    required: true
  copies:
    description: Directories copied into the tree, as a dict of destination (relative to O(dest)) to source.
    type: dict
    default: {}
  schema_dir:
    description:
      - Directory with C(crds/) and C(chart-values/); defaults to E(SUPERTODO_SCHEMA_DIR).
      - When neither is set and O(kubeconfig) or O(host) is given, custom resources are checked against the CRDs
        that cluster serves (one list request); without a cluster they are not checked against a CRD and a
        warning names their kinds. HelmRelease values are then checked against the schema of the charts in
        O(charts) only; a warning names the other charts. Built-in kinds are always checked.
    type: path
  charts:
    description: Chart name to chart directory for charts not under O(schema_dir)C(/chart-values).
    type: dict
    default: {}
  kubernetes_version:
    description:
      - Kubernetes version whose schemas validate built-in kinds, such as the target cluster's. A version the
        offline schemas do not cover is checked with the nearest one they do (1.20 with 1.22).
    type: str
    default: "1.30.0"
  git_path:
    description:
      - Where O(dest) sits inside the Git repository Flux reads, such as C(flux-cd); C(.) when O(dest) is the
        repository root. Flux Kustomization C(spec.path) and HelmRelease chart paths are relative to the repository
        root and are read through it.
    type: str
    default: "."
    version_added: 0.1.0
  owned:
    description:
      - Paths (files or directories, relative to O(dest)) that only this render writes, such as one environment's
        folders. A file there that this module wrote earlier and that the render does not produce again is removed.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Write the flux-cd tree of this environment
  supertodo.platform.manifest_render:
    manifests: "{{ __supertodo_manifests }}"
    dest: /srv/gitops/flux-cd
    git_path: flux-cd
    owned: [apps/super-todo/staging, namespaces/staging, clusters/my-cluster/super-todo-staging.yaml]
    copies:
      charts/super-todo: "{{ playbook_dir }}/../charts/super-todo"
    schema_dir: "{{ supertodo_schema_dir }}"
    charts:
      super-todo: "{{ playbook_dir }}/../charts/super-todo"
"""

RETURN = r"""
files:
  description: Files of the tree that were written (or would be, in check mode), relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: [apps/super-todo/staging/helmrelease.yaml, apps/super-todo/kustomization.yaml]
dest:
  description: The absolute root of the tree.
  returned: always
  type: str
  sample: /srv/gitops/flux-cd
removed:
  description: Files removed from the tree (or that would be, in check mode), relative to O(dest); also in RV(files).
  returned: always
  type: list
  elements: str
  sample: [infrastructure/postgres/production/objectstore.yaml]
skipped_secrets:
  description: Number of Secret entries left out of the tree.
  returned: always
  type: int
  sample: 3
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import protect_secrets, render_manifests


def argument_spec():
    spec = dict(
        manifests=dict(type="list", elements="dict", required=True),
        dest=dict(type="path", required=True),
        copies=dict(type="dict", default={}),
        schema_dir=dict(type="path"),
        charts=dict(type="dict", default={}),
        kubernetes_version=dict(type="str", default="1.30.0"),
        git_path=dict(type="str", default="."),
        owned=dict(type="list", elements="str", default=[]),
    )
    spec.update(CONNECTION_ARG_SPEC)
    return spec


def run(params, check_mode=False, diff=False):
    """The module's result for ``params`` (also called by the action plugin, in the controller's process); its
    ``warnings`` are the module's warnings."""
    params = dict(params)
    params["schema_dir"] = params["schema_dir"] or os.environ.get("SUPERTODO_SCHEMA_DIR")
    return render_manifests(params, check_mode=check_mode, diff=diff)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    protect_secrets(module)
    try:
        result = run(module.params, check_mode=module.check_mode, diff=module._diff)
    except SupertodoError as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
