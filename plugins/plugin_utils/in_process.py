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

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")


class InProcessAction(ActionBase):
    """Subclasses set ``MODULE`` (the module's FQCN) and implement ``argument_spec()`` and ``run_module(params,
    check_mode, diff)``, which returns the module's result or raises an exception of ``ERRORS`` (its message is
    the failure's ``msg``, prefixed with ``ERROR_PREFIX``). ``ReadAction`` and ``ManifestAction`` below do so for
    the collection's read-only Kubernetes modules and its manifest modules."""

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

    def error_prefix(self):
        return self.ERROR_PREFIX

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
            out = dict(getattr(exc, "partial", {}), failed=True, msg="%s%s" % (self.error_prefix(), exc))
        warnings = out.pop("warnings", None)
        if warnings:
            out["warnings"] = list(warnings)
        result.update(remove_values(out, no_log_values))
        return result


class ReadAction(InProcessAction):
    """A read-only Kubernetes module (``k8s_objects_info``, ``cluster_versions``): set ``MODULE`` and ``module``,
    the module's Python module, which has ``argument_spec()``, ``run(params, client)`` and maybe ``ERROR_PREFIX``."""

    module = None
    ERRORS = (SupertodoError,)

    def error_prefix(self):
        return getattr(self.module, "ERROR_PREFIX", "")

    def argument_spec(self):
        return self.module.argument_spec()

    def run_module(self, params, check_mode, diff):
        # imported here: report_write's plugin, on the same base, needs no Kubernetes client
        from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
        return self.module.run(params, KubeClient(params))


class _Masks:
    """What protect_secrets reads and updates on an AnsibleModule: the parameters and the no_log values."""

    def __init__(self, params, no_log_values):
        self.params = params
        self.no_log_values = no_log_values


class ManifestAction(ReadAction):
    """A manifest module (``manifest_apply``, ``manifest_render``): its ``run(params, check_mode, diff)``; Secret
    values are masked in the result exactly as the module masks them (protect_secrets)."""

    def protect(self, params, no_log_values):
        # imported here: it loads the validators (jsonschema, kubernetes-validate), which the read modules do not use
        from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import protect_secrets
        masks = _Masks(params, set(no_log_values))
        protect_secrets(masks)
        return masks.no_log_values

    def run_module(self, params, check_mode, diff):
        return self.module.run(params, check_mode=check_mode, diff=diff)
