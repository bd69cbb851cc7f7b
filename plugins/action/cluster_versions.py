# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of supertodo.platform.cluster_versions: on the control node itself, the module's code runs in the
controller's process (plugins/plugin_utils/in_process.py says when); elsewhere the module runs on the host."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError
from ansible_collections.supertodo.platform.plugins.modules import cluster_versions as module
from ansible_collections.supertodo.platform.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "supertodo.platform.cluster_versions"
    ERRORS = (SupertodoError,)
    ERROR_PREFIX = getattr(module, "ERROR_PREFIX", "")

    def argument_spec(self):
        return module.argument_spec()

    def run_module(self, params, check_mode, diff):
        return module.run(params, KubeClient(params))
