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

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def _mode(value):
    return int(value, 8) if isinstance(value, str) else int(value)


def run(module):
    p = module.params
    dest = p["dest"]
    result = {"changed": False, "written": [], "dest": dest}
    diffs = []
    for name, content in sorted(p["files"].items()):
        if not name or os.path.basename(name) != name or name in (".", ".."):
            module.fail_json(msg="report_write: file name %r must be a plain name inside %s" % (name, dest))
        data = to_bytes(content if isinstance(content, str) else to_text(content))
        path = os.path.join(dest, name)
        try:
            with open(path, "rb") as handle:
                before = handle.read()
        except FileNotFoundError:
            before = None
        except OSError as exc:
            module.fail_json(msg="report_write: cannot read %s: %s" % (path, exc))
        if before != data:
            result["written"].append(path)
            diffs.append({"before_header": path, "after_header": path,
                          "before": to_text(before or b"", errors="replace"), "after": to_text(data, errors="replace")})
            if not module.check_mode:
                _write(module, dest, path, data, p)
    result["changed"] = bool(result["written"])
    if module._diff and diffs:
        result["diff"] = diffs
    return result


def _write(module, dest, path, data, p):
    tmp = None
    try:
        os.makedirs(dest, mode=_mode(p["dir_mode"]), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".report_write-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _mode(p["mode"]))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg="report_write: cannot write %s: %s" % (path, exc))


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "mode": {"type": "raw", "default": "0644"},
            "dir_mode": {"type": "raw", "default": "0755"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
