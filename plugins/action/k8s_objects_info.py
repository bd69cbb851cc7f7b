# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of supertodo.platform.k8s_objects_info: on the control node itself, the module's code runs in the
controller's process (plugins/plugin_utils/in_process.py says when); elsewhere the module runs on the host."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.modules import k8s_objects_info
from ansible_collections.supertodo.platform.plugins.plugin_utils.in_process import ReadAction


class ActionModule(ReadAction):
    MODULE = "supertodo.platform.k8s_objects_info"
    module = k8s_objects_info
