# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write several text files into one directory, atomically, rewriting only what changed (report_write's work).

Used by the module (on any host) and by its action plugin (in the controller's process, when the host is the
control node itself), so both behave the same.
"""

from __future__ import annotations

import os
import tempfile

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "files": {"type": "dict", "required": True},
    "mode": {"type": "raw", "default": "0644"},
    "dir_mode": {"type": "raw", "default": "0755"},
}


class ReportFilesError(Exception):
    """A file cannot be named, read or written; the message names it and the cause."""


def _mode(value):
    return int(value, 8) if isinstance(value, str) else int(value)


def _bytes(content):
    if isinstance(content, bytes):
        return content
    return (content if isinstance(content, str) else str(content)).encode("utf-8", "surrogateescape")


def _text(data):
    return data.decode("utf-8", "replace")


def write_files(dest, files, mode="0644", dir_mode="0755", check_mode=False, diff=False):
    """Write ``files`` (name -> content) into ``dest``; return the module result (changed, written, dest, diff)."""
    result = {"changed": False, "written": [], "dest": dest}
    diffs = []
    for name, content in sorted(files.items()):
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise ReportFilesError("report_write: file name %r must be a plain name inside %s" % (name, dest))
        data = _bytes(content)
        path = os.path.join(dest, name)
        try:
            with open(path, "rb") as handle:
                before = handle.read()
        except FileNotFoundError:
            before = None
        except OSError as exc:
            raise ReportFilesError("report_write: cannot read %s: %s" % (path, exc)) from exc
        if before != data:
            result["written"].append(path)
            diffs.append({"before_header": path, "after_header": path,
                          "before": _text(before or b""), "after": _text(data)})
            if not check_mode:
                _write(dest, path, data, mode, dir_mode)
    result["changed"] = bool(result["written"])
    if diff and diffs:
        result["diff"] = diffs
    return result


def _write(dest, path, data, mode, dir_mode):
    tmp = None
    try:
        os.makedirs(dest, mode=_mode(dir_mode), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".report_write-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _mode(mode))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise ReportFilesError("report_write: cannot write %s: %s" % (path, exc)) from exc
