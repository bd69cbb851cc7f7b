# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of supertodo.platform.report_write: on the control node itself, write in this process.

The environment's host is the control node (ansible_connection local): writing two report files there does not
need a module run (a Python start-up and the module's packing, about half a second). When that holds is
plugins/plugin_utils/in_process.py's rule, the same as for the other modules; otherwise the module runs on the host.
Both paths share module_utils/report_files.py.
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.report_files import (
    ARGUMENT_SPEC,
    ReportFilesError,
    write_files,
)
from ansible_collections.supertodo.platform.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "supertodo.platform.report_write"
    ERRORS = (ReportFilesError,)

    def argument_spec(self):
        return ARGUMENT_SPEC

    def run_module(self, params, check_mode, diff):
        return write_files(params["dest"], params["files"], params["mode"], params["dir_mode"], check_mode=check_mode,
                           diff=diff)
