# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One streaming listing of a barman-cloud server prefix: backups (backup.info read as met), WAL runs, history and
partial files, the newest segment, and each DONE backup's data objects as listed."""

from __future__ import annotations

import datetime
import re

from ansible_collections.supertodo.platform.plugins.module_utils.backup.barman import (
    Backup,
    classify_key,
    is_data_tar,
    parse_backup_info,
)
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import (
    DEFAULT_SEGMENT_SIZE,
    RunTracker,
    history_timeline,
    parse_segment,
)


class Archive:
    """What the listing found: backups, WAL runs, history and partial files, the newest segment."""

    def __init__(self):
        self.objects = 0
        self.bytes = 0
        self.backups = []
        self.unreadable = []
        self.data_files = {}
        self.tracker = RunTracker()
        self.history_keys = {}
        self.partials = []
        self.newest_segment = None  # (tli, segno, name, last_modified)
        self.newest_segment_key = None
        self.newest_wal_time = None
        self.segment_size = None
        self.bad_names = 0


def scan(store, server_prefix):
    """One paginated pass over ``server_prefix``; backup.info files are read as they are met (they sort first)."""
    arc = Archive()
    for key, size, modified in store.list(server_prefix):
        arc.objects += 1
        arc.bytes += size or 0
        kind, ident, extra = classify_key(key, server_prefix)
        if kind == "wal":
            base, _suffix = extra
            if ident == "segment":
                segsize = arc.segment_size or DEFAULT_SEGMENT_SIZE
                try:
                    tli, segno = parse_segment(base, segsize)
                except ParseError:
                    arc.bad_names += 1
                    continue
                arc.tracker.add(tli, segno)
                if arc.newest_segment is None or (tli, segno) > arc.newest_segment[:2]:
                    arc.newest_segment = (tli, segno, base, modified)
                    arc.newest_segment_key = key
                if modified and (arc.newest_wal_time is None or modified > arc.newest_wal_time):
                    arc.newest_wal_time = modified
            elif ident == "history":
                arc.history_keys[history_timeline(base)] = key
            elif ident == "partial":
                arc.partials.append(base)
        elif kind == "backup_info":
            _read_backup(store, arc, ident, key, modified)
        elif kind == "backup_data" and is_data_tar(extra):
            arc.data_files.setdefault(ident, []).append((extra, key, size))
    arc.backups.sort(key=lambda b: (b.begin_time or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc),
                                    b.backup_id))
    for backup in arc.backups:
        if backup.status == "DONE":
            backup.problems.extend(data_problems(backup, arc.data_files.get(backup.backup_id, [])))
    return arc


def _read_backup(store, arc, backup_id, key, modified):
    try:
        data, meta = store.read_object(key, limit=4 * 1024 * 1024)
        text = data.decode("utf-8")
        backup = Backup(backup_id, parse_backup_info(text, "backup.info of %s" % backup_id), key, modified)
    except (ParseError, UnicodeDecodeError) as exc:
        arc.unreadable.append({"backup_id": backup_id, "key": key, "error": str(exc)})
        return
    backup.encryption = meta.get("encryption")
    arc.backups.append(backup)
    if backup.usable and arc.segment_size is None:
        arc.segment_size = backup.segment_size


# barman-cloud-backup names its tars <name>.tar[.gz|...] then <name>_0001.tar, <name>_0002.tar ... when one grows past
# --max-archive-size; <name> is "data" for the data directory and the tablespace's OID for each tablespace
_TAR_PART = re.compile(r"^(data|\d+)(?:_(\d{4,}))?\.tar(?:\.[a-z0-9]+)?$")
_TABLESPACE = re.compile(r"name='([^']*)', oid=(\d+)")


def data_problems(backup, files):
    """What is wrong with a DONE backup's data objects as listed: ``data.tar`` and each tablespace tar present, every
    split part from the first to the last listed, none empty. ``files``: ``[(filename, key, size)]``."""
    problems = []
    where = "base/%s/" % backup.backup_id
    parts = {}
    for filename, dummy, size in sorted(files):
        match = _TAR_PART.match(filename)
        if match:
            parts.setdefault(match.group(1), {})[int(match.group(2) or 0)] = filename
        if not size:
            problems.append("%s is empty (0 bytes)" % filename)
    wanted = [("data", "")] + [(oid, " (tablespace %s)" % name)
                               for name, oid in _TABLESPACE.findall(str(backup.info.get("tablespaces") or ""))]
    for name, what in wanted:
        numbers = parts.get(name)
        if not numbers:
            problems.append("%s.tar missing under %s%s" % (name, where, what))
            continue
        for number in range(0, max(numbers)):
            if number not in numbers:
                problems.append("%s missing under %s (%s is listed)" % (
                    "%s.tar" % name if number == 0 else "%s_%04d.tar" % (name, number), where,
                    numbers[max(numbers)]))
    return problems
