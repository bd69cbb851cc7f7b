"""A fake object store for the backup unit tests: keys in memory, listed in lexicographic order by pages."""

from __future__ import annotations

import datetime
import io

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import StorageError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.wal import segment_name

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)


class FakeStore:
    def __init__(self, bucket="super-todo-backups", page_size=3):
        self.bucket = bucket
        self.objects = {}
        self.requests = 0
        self.page_size = page_size
        self.pages = 0
        self.encryption = {}    # key -> what the server reports (absent: not encrypted)

    def put(self, key, data, modified=NOW, encryption=None):
        self.objects[key] = (data if isinstance(data, bytes) else data.encode(), modified)
        if encryption:
            self.encryption[key] = encryption
        else:
            self.encryption.pop(key, None)

    def meta(self, key):
        return {"encryption": self.encryption.get(key, "none"), "kms_key_id": None}

    def list(self, prefix, page_size=None):
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        size = page_size or self.page_size
        for start in range(0, len(keys), size):
            self.requests += 1
            self.pages += 1
            for key in keys[start:start + size]:
                data, modified = self.objects[key]
                yield key, len(data), modified

    def read(self, key, limit=16 * 1024 * 1024):
        return self.read_object(key, limit)[0]

    def read_object(self, key, limit=16 * 1024 * 1024):
        self.requests += 1
        if key not in self.objects:
            raise StorageError("storage: %s not found" % key)
        return self.objects[key][0], self.meta(key)

    def head(self, key):
        self.requests += 1
        if key not in self.objects:
            raise StorageError("storage: %s not found" % key)
        return self.meta(key)

    def open(self, key):
        return self.open_object(key)[:2]

    def open_object(self, key):
        self.requests += 1
        data = self.objects[key][0]
        return io.BytesIO(data), len(data), self.meta(key)

    def read_errors(self):
        return (OSError,)

    def error(self, exc, what):
        return StorageError("storage: %s: %s" % (what, exc))


def backup_info(begin, end, begin_time, end_time, status="DONE", timeline=1, error="None"):
    return ("backup_label=None\nbegin_time=%s\nbegin_wal=%s\nend_time=%s\nend_wal=%s\nerror=%s\nstatus=%s\n"
            "timeline=%d\nxlog_segment_size=16777216\n" % (begin_time.isoformat(sep=" "), begin,
                                                           end_time.isoformat(sep=" "), end, error, status, timeline))


def fill(store, segments, backups, prefix="pg/postgres-production/", tli=1, newest_age=60, encryption=None):
    """``segments``: iterable of segment numbers on ``tli``; ``backups``: list of (id, begin segno, end segno,
    end time, status). Each backup gets a (non-empty) ``data.tar.gz``; ``encryption`` is what the server reports
    for every object written."""
    for segno in segments:
        name = segment_name(tli, segno)
        store.put("%swals/%s/%s.gz" % (prefix, name[:16], name), b"x",
                  NOW - datetime.timedelta(seconds=newest_age), encryption=encryption)
    for backup_id, begin, end, end_time, status in backups:
        store.put("%sbase/%s/backup.info" % (prefix, backup_id),
                  backup_info(segment_name(tli, begin), segment_name(tli, end),
                              end_time - datetime.timedelta(minutes=5), end_time, status, tli),
                  encryption=encryption)
        store.put("%sbase/%s/data.tar.gz" % (prefix, backup_id), b"tar", encryption=encryption)
