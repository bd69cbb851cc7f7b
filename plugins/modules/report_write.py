#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: report_write
short_description: Write several text files into one directory in one task, rewriting only what changed
version_added: 0.1.0
description:
  - Creates O(dest) when missing and writes each file of O(files) there, atomically, only when its content
    differs from what is on disk, so an unchanged report leaves the run C(changed=false).
  - One task for all the files of a report (the verify role's Markdown and JSON) instead of a directory task and
    one copy task per file.
  - When the host is the control node itself (connection C(local), no become), its action plugin writes the files
    in the controller's process, with no module run; on any other host the module runs there.
author:
  - Super-Todo maintainers (@andreqko)
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Reports which files would be written, writes nothing.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: One before/after pair per file written.
options:
  dest:
    description: Directory of the files; created (with its parents) when missing.
    type: path
    required: true
  files:
    description: File name (no directory part) to content.
    type: dict
    required: true
  mode:
    description: Mode of the files written.
    type: raw
    default: "0644"
  dir_mode:
    description: Mode of the directories created.
    type: raw
    default: "0755"
"""

EXAMPLES = r"""
- name: Write the report as Markdown and JSON
  supertodo.platform.report_write:
    dest: "{{ verify_report_dir }}"
    files:
      staging.md: "{{ report_markdown }}"
      staging.json: "{{ report | ansible.builtin.to_nice_json(indent=2) }}\n"
"""

RETURN = r"""
written:
  description: The paths written (or, in check mode, that would be written).
  returned: always
  type: list
  elements: str
  sample: ["/var/lib/supertodo/verify/staging.md"]
dest:
  description: The directory.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.report_files import (
    ARGUMENT_SPEC,
    ReportFilesError,
    write_files,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        result = write_files(p["dest"], p["files"], p["mode"], p["dir_mode"], check_mode=module.check_mode,
                             diff=module._diff)
    except ReportFilesError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
