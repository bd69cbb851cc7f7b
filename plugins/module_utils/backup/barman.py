# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The barman-cloud layout of a bucket and its ``backup.info`` files.

``<prefix>/<server>/base/<backup_id>/backup.info`` plus ``data.tar[.gz|.bz2|...]`` (and ``<oid>.tar`` per
tablespace), ``<prefix>/<server>/wals/<first 16 hex>/<segment>[suffix]`` and ``<prefix>/<server>/wals/<TLI>.history``.
``backup.info`` is a ``key=value`` file written by Barman (``status``, ``begin_wal``, ``end_wal``, ``begin_time``,
``end_time``, ``timeline``, ``xlog_segment_size``, ``backup_label``, ...).
"""

from __future__ import annotations

import ast

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import iso, parse_time
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import (
    DEFAULT_SEGMENT_SIZE,
    classify,
    parse_segment,
)

REQUIRED_KEYS = ("status", "begin_wal", "begin_time", "timeline")
DONE_STATUSES = ("DONE",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tar.bz2", ".tar.snappy", ".tar.xz", ".tar.lz4", ".tar.zst")


def parse_backup_info(text, name="backup.info"):
    """Parse a backup.info text into a dict of strings; raise ParseError when it is not a backup.info."""
    if "\x00" in text:
        raise ParseError("%s contains binary data" % name, "base_backups")
    info = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().replace("_", "").isalnum():
            raise ParseError("%s line %d is not key=value: %r" % (name, number, line[:80]), "base_backups")
        info[key.strip()] = value
    missing = [key for key in REQUIRED_KEYS if key not in info]
    if missing:
        raise ParseError("%s lacks %s" % (name, ", ".join(missing)), "base_backups")
    return info


class Backup:
    """One base backup as described by its backup.info."""

    def __init__(self, backup_id, info, key, last_modified=None):
        self.backup_id = backup_id
        self.key = key
        self.info = info
        self.status = info.get("status", "")
        self.error = None if info.get("error") in (None, "None") else info.get("error")
        self.begin_wal = _none(info.get("begin_wal"))
        self.end_wal = _none(info.get("end_wal"))
        self.begin_time = parse_time(info.get("begin_time"))
        self.end_time = parse_time(info.get("end_time"))
        self.last_modified = last_modified
        try:
            self.timeline = int(info.get("timeline"))
        except (TypeError, ValueError):
            self.timeline = None
        try:
            self.segment_size = int(_none(info.get("xlog_segment_size")) or DEFAULT_SEGMENT_SIZE)
        except ValueError:
            self.segment_size = DEFAULT_SEGMENT_SIZE
        self.backup_label = _literal(info.get("backup_label"))
        self.problems = []
        if self.status in DONE_STATUSES:
            for field in ("begin_wal", "end_wal", "begin_time", "end_time", "timeline"):
                if getattr(self, field) is None:
                    self.problems.append("%s missing or invalid" % field)
            for field in ("begin_wal", "end_wal"):
                value = getattr(self, field)
                if value:
                    try:
                        parse_segment(value, self.segment_size)
                    except ParseError as exc:
                        self.problems.append("%s: %s" % (field, exc))

    @property
    def usable(self):
        return self.status in DONE_STATUSES and not self.problems

    def as_dict(self):
        return {
            "backup_id": self.backup_id,
            "status": self.status,
            "usable": self.usable,
            "begin_time": iso(self.begin_time),
            "end_time": iso(self.end_time),
            "begin_wal": self.begin_wal,
            "end_wal": self.end_wal,
            "timeline": self.timeline,
            "error": self.error,
            "problems": list(self.problems),
        }


def _none(value):
    return None if value in (None, "", "None") else value


def _literal(value):
    if value in (None, "None"):
        return None
    try:
        result = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return result if isinstance(result, str) else value


def classify_key(key, server_prefix):
    """Classify an object key below ``<prefix>/<server>/``.

    Returns ``("backup_info", backup_id, None)``, ``("backup_data", backup_id, filename)``, ``("wal", kind, (base,
    suffix))`` with kind from :func:`wal.classify`, or ``("other", None, None)``.
    """
    rel = key[len(server_prefix):] if key.startswith(server_prefix) else key
    parts = rel.split("/")
    if len(parts) == 3 and parts[0] == "base":
        if parts[2] == "backup.info":
            return "backup_info", parts[1], None
        return "backup_data", parts[1], parts[2]
    if parts[0] == "wals" and len(parts) in (2, 3):
        kind, base, suffix = classify(parts[-1])
        if len(parts) == 3 and kind in ("segment", "backup", "partial") and parts[1] != base[:16]:
            return "other", None, None
        return "wal", kind, (base, suffix)
    return "other", None, None


def is_data_tar(filename):
    return filename.endswith(TAR_SUFFIXES)
