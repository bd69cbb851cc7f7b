# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of supertodo.platform.report_write: on the control node itself, write in this process.

The environment's host is the control node (ansible_connection local): writing two report files there does not
need a module run (a Python start-up and the module's packing, about half a second). On any other connection, or
with become, the module runs on the host as usual. Both paths share module_utils/report_files.py.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.supertodo.platform.plugins.module_utils.report_files import (
    ARGUMENT_SPEC,
    ReportFilesError,
    write_files,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _in_process(self):
        return self._connection.transport in ("local", "ansible.builtin.local") and not self._play_context.become

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if not self._in_process():
            result.update(self._execute_module(module_name="supertodo.platform.report_write",
                                               module_args=self._task.args, task_vars=task_vars))
            return result
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest = os.path.expanduser(os.path.expandvars(args["dest"]))
        try:
            result.update(write_files(dest, args["files"], args["mode"], args["dir_mode"],
                                      check_mode=self._task.check_mode, diff=self._task.diff))
        except ReportFilesError as exc:
            result.update(failed=True, msg=str(exc))
        return result
