# Copyright (c) supertodo.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a role's manifest templates and parse them into Kubernetes objects, in one lookup."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manifest_templates
short_description: Render a role's manifest templates into Kubernetes objects
version_added: 1.0.0
author:
  - Andre Qko (@andreqko)
description:
  - Renders each template named in the terms from the calling role's C(templates/) folder (the same search path as
    M(ansible.builtin.template) and the P(ansible.builtin.template#lookup) lookup), with the task's variables, and
    parses every YAML document of the result.
  - Returns the objects of all templates in the order given, one list; empty documents are left out.
  - Unlike the P(ansible.builtin.template#lookup) lookup, it does not copy every variable of the host once per
    template (that copy includes the manifest list the producing roles grow, and was most of a role's rendering
    time); the templates read the task's variables as they are and cannot change them.
  - The parsed values are plain data, never templated again.
options:
  _terms:
    description: Template file names, looked up like the P(ansible.builtin.template#lookup) lookup's.
    type: list
    elements: str
    required: true
notes:
  - A template that is not found, does not render (an undefined variable, a Jinja error) or is not valid YAML fails
    the task with the template's name and the cause; for invalid YAML, the line and column of the rendered text,
    never the line itself (a Secret's template renders its values).
seealso:
  - plugin: ansible.builtin.template
    plugin_type: lookup
  - plugin: supertodo.platform.manifest_entries
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Render the role's objects and add them to the manifest list
  ansible.builtin.set_fact:
    __supertodo_manifests: >-
      {{ __supertodo_manifests
         + (query('supertodo.platform.manifest_templates', 'namespace.yaml.j2', 'networkpolicy.yaml.j2')
            | supertodo.platform.manifest_entries(namespace_render_path)) }}
"""

RETURN = r"""
_raw:
  description: The objects of every template, in the order of the terms and of the documents in each template.
  type: list
  elements: dict
"""

import os
from collections import ChainMap

import yaml

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template

from ansible_collections.supertodo.platform.plugins.module_utils.yaml_safe import error_where, safe_loader

_LOADER = safe_loader()


def _search_path(variables, template_file):
    """Jinja's search path for includes, as the template lookup builds it: the template's folder first."""
    paths = [os.path.dirname(template_file)]
    for path in variables.get("ansible_search_path", []) or []:
        paths.extend([os.path.join(path, "templates"), path])
    return paths


def parse_documents(text, name):
    """The non-empty YAML documents of one rendered template."""
    try:
        # bytes: the C parser takes neither a tagged str nor a str subclass
        return [doc for doc in yaml.load_all(text.encode("utf-8"), Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        # the position and the problem, never PyYAML's quote of the line: a Secret's template renders its values
        raise AnsibleLookupError("manifest_templates: %s does not render to valid YAML%s" % (name, error_where(exc))) from None


class LookupModule(LookupBase):
    """Render manifest templates with the task's variables, without copying them."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables if variables is not None else {}
        objects = []
        for term in terms:
            name = to_native(term)
            path = self.find_file_in_search_path(variables, "templates", name)
            if not path:
                raise AnsibleLookupError("manifest_templates: template %s not found in the role's templates/" % name)
            source = trust_as_template(self._loader.get_text_file_contents(path))
            # the variables as they are, under a layer of the template's own names (a ChainMap, not a copy)
            template_vars = ChainMap({"template_path": name, "template_fullpath": path}, variables)
            templar = self._templar.copy_with_new_env(available_variables=template_vars,
                                                      searchpath=_search_path(variables, path))
            try:
                text = templar.template(source, escape_backslashes=False)
            except AnsibleError as exc:
                raise AnsibleLookupError("manifest_templates: %s: %s" % (name, to_native(exc.message)),
                                         obj=exc.obj) from exc
            objects.extend(parse_documents(to_native(text), name))
        return objects
