# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of supertodo.platform.manifest_apply: on the control node itself, the module's code runs in the
controller's process (plugins/plugin_utils/in_process.py says when); elsewhere the module runs on the host.
Secret values are masked in the result exactly as the module masks them (protect_secrets)."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import protect_secrets
from ansible_collections.supertodo.platform.plugins.modules import manifest_apply as module
from ansible_collections.supertodo.platform.plugins.plugin_utils.in_process import InProcessAction


class _Masks:
    """What protect_secrets reads and updates on an AnsibleModule: the parameters and the no_log values."""

    def __init__(self, params, no_log_values):
        self.params = params
        self.no_log_values = no_log_values


class ActionModule(InProcessAction):
    MODULE = "supertodo.platform.manifest_apply"
    ERRORS = (SupertodoError,)

    def argument_spec(self):
        return module.argument_spec()

    def protect(self, params, no_log_values):
        masks = _Masks(params, set(no_log_values))
        protect_secrets(masks)
        return masks.no_log_values

    def run_module(self, params, check_mode, diff):
        return module.run(params, check_mode=check_mode, diff=diff)
