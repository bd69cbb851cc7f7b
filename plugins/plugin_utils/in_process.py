# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugins that run their module's code in the controller's process when the host is the control node.

The collection's only host is the control node itself (``ansible_connection: local``, ``ansible_python_interpreter``
set to the controller's Python): there, starting a module means a new Python process, Ansible's module runtime and
the module's imports, about half a second, to read a few objects over HTTP in a few milliseconds. An action plugin
built on :class:`InProcessAction` validates the task's arguments against the module's own argument spec and calls
the same module_utils function the module calls, in this process, when all of this holds:

- the connection is local and there is no become (the same user, the same machine);
- the host's Python is the controller's (the same packages);
- the task sets no ``environment`` (it would apply only to a module's process).

Otherwise the module runs as usual. Either way the task gets the same result: the values of no_log options (and
whatever ``protect`` adds, such as Secret data) are masked in it as ``exit_json`` masks them, a failure's extra
fields (an exception's ``partial``) are kept, and the module's warnings are the result's ``warnings``.
"""

from __future__ import annotations

import json
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")


class InProcessAction(ActionBase):
    """Subclasses set ``MODULE`` (the module's FQCN) and implement ``argument_spec()`` and ``run_module(params,
    check_mode, diff)``, which returns the module's result or raises an exception of ``ERRORS`` (its message is
    the failure's ``msg``, prefixed with ``ERROR_PREFIX``)."""

    MODULE = ""
    ERRORS = (Exception,)
    ERROR_PREFIX = ""
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def argument_spec(self):
        raise NotImplementedError

    def run_module(self, params, check_mode, diff):
        raise NotImplementedError

    def protect(self, params, no_log_values):
        """The values to mask in the result; by default those of the no_log options, as for a module."""
        return no_log_values

    def in_process(self, task_vars):
        """Whether the module's code can run here with the same effect as in the module's own process."""
        if self._connection.transport not in LOCAL_TRANSPORTS or self._play_context.become:
            return False
        environment = getattr(self._task, "environment", None) or []
        if any(environment if isinstance(environment, list) else [environment]):
            return False
        interpreter = (task_vars or {}).get("ansible_python_interpreter")
        if not interpreter:
            return False
        interpreter = self._templar.template(interpreter)
        return os.path.realpath(str(interpreter)) == os.path.realpath(sys.executable)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if not self.in_process(task_vars):
            result.update(self._execute_module(module_name=self.MODULE, module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        try:
            validated, params = self.validate_argument_spec(argument_spec=self.argument_spec())
        except AnsibleActionFail as exc:
            # the validator names this plugin's Python module: name the Ansible module, as the module itself would
            result.update(failed=True, msg=str(exc.message).replace(type(self).__module__, self.MODULE))
            return result
        # what a module receives: plain JSON types (not the templating engine's tagged and lazy containers)
        params = json.loads(json.dumps(params))
        no_log_values = self.protect(params, set(getattr(validated, "_no_log_values", ())))
        try:
            out = self.run_module(params, self._task.check_mode, self._task.diff)
        except self.ERRORS as exc:
            out = dict(getattr(exc, "partial", {}), failed=True, msg="%s%s" % (self.ERROR_PREFIX, exc))
        warnings = out.pop("warnings", None)
        if warnings:
            out["warnings"] = list(warnings)
        result.update(remove_values(out, no_log_values))
        return result
