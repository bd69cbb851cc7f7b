# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis persistence checks over a local directory/file or an S3 prefix: ``rdb``, ``aof``, ``snapshot_age``."""

from __future__ import annotations

import datetime
import os

from ansible_collections.supertodo.platform.plugins.module_utils.backup.aof import RespChecker, parse_manifest
from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import iso, utcnow
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError, StorageError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.rdb import RdbChecker

CHUNK = 1 << 20


class LocalSource:
    """Files of a local directory (or one file)."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise StorageError("storage: %s does not exist" % path)
        self.single = os.path.isfile(path)
        self.root = os.path.dirname(path) if self.single else path

    def describe(self, name=""):
        return os.path.join(self.root, name) if name else self.path

    def list(self):
        if self.single:
            names = [os.path.basename(self.path)]
        else:
            names = []
            for entry in sorted(os.listdir(self.root)):
                full = os.path.join(self.root, entry)
                if os.path.isdir(full):
                    names.extend(os.path.join(entry, sub) for sub in sorted(os.listdir(full)))
                else:
                    names.append(entry)
        for name in names:
            full = os.path.join(self.root, name)
            if os.path.isfile(full):
                stat = os.stat(full)
                yield name, stat.st_size, datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc)

    def chunks(self, name):
        with open(os.path.join(self.root, name), "rb") as fh:
            chunk = fh.read(CHUNK)
            while chunk:
                yield chunk
                chunk = fh.read(CHUNK)


class S3Source:
    """Objects under an S3 prefix (names relative to it)."""

    def __init__(self, store, prefix):
        self.store = store
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""

    def describe(self, name=""):
        return "s3://%s/%s%s" % (self.store.bucket, self.prefix, name)

    def list(self):
        for key, size, modified in self.store.list(self.prefix):
            yield key[len(self.prefix):], size, modified

    def chunks(self, name):
        body, _length = self.store.open(self.prefix + name)
        try:
            chunk = body.read(CHUNK)
            while chunk:
                yield chunk
                chunk = body.read(CHUNK)
        except self.store.read_errors() as exc:
            raise self.store.error(exc, "reading %s" % name) from exc
        finally:
            body.close()


def _ok(message, **extra):
    out = {"status": "ok", "message": message}
    out.update(extra)
    return out


def _failed(message, **extra):
    out = {"status": "failed", "message": message}
    out.update(extra)
    return out


def check_rdb(source, name):
    checker = RdbChecker(source.describe(name))
    for chunk in source.chunks(name):
        checker.feed(chunk)
    return checker.finish()


def check_aof_file(source, name):
    """Incremental (or AOF-format base) file: complete RESP commands."""
    checker = RespChecker(source.describe(name))
    for chunk in source.chunks(name):
        checker.feed(chunk)
    return checker.finish()


def run_redis_checks(source, max_age=None, now=None):
    now = now or utcnow()
    files = {}
    for name, size, modified in source.list():
        files[name] = (size, modified)
    manifests = [n for n in files if n.endswith(".manifest")]
    aof_members = set()
    checks = {}
    result = {"files": len(files), "rdb": None, "aof": None}
    newest_time = None

    # -- AOF ---------------------------------------------------------------------------------------------------
    if manifests:
        manifest = sorted(manifests)[-1]
        folder = os.path.dirname(manifest)
        try:
            text = b"".join(source.chunks(manifest)).decode("utf-8")
            entries = parse_manifest(text, source.describe(manifest))
            details = []
            for entry in entries:
                if entry["type"] == "h":
                    continue  # history files are kept only until Redis deletes them
                name = os.path.join(folder, entry["file"]) if folder else entry["file"]
                aof_members.add(name)
                if name not in files:
                    raise ParseError("%s lists %s, which is missing" % (source.describe(manifest), entry["file"]),
                                     "aof")
                head = b""
                for chunk in source.chunks(name):
                    head = chunk[:5]
                    break
                if entry["type"] == "b" and head == b"REDIS":
                    rep = check_rdb(source, name)
                    details.append({"file": entry["file"], "type": "base", "format": "rdb", "version": rep.version})
                else:
                    count = check_aof_file(source, name)
                    details.append({"file": entry["file"], "type": "base" if entry["type"] == "b" else "incr",
                                    "format": "aof", "commands": count})
                modified = files[name][1]
                if modified and (newest_time is None or modified > newest_time):
                    newest_time = modified
            result["aof"] = details
            checks["aof"] = _ok("%s: %d files complete and parseable" % (source.describe(manifest), len(details)))
        except ParseError as exc:
            checks["aof"] = _failed(str(exc))
        except UnicodeDecodeError as exc:
            checks["aof"] = _failed("%s is not text: %s" % (source.describe(manifest), exc))

    # -- RDB snapshots: the newest one --------------------------------------------------------------------------
    rdbs = sorted((n for n in files if n.endswith(".rdb") and n not in aof_members),
                  key=lambda n: (files[n][1] or now, n))
    if rdbs:
        name = rdbs[-1]
        try:
            rep = check_rdb(source, name)
            result["rdb"] = {"file": source.describe(name), "version": rep.version, "size": rep.size,
                             "redis_version": rep.aux.get("redis-ver"), "checksum": "%016x" % (rep.stored_crc or 0),
                             "checksum_disabled": rep.stored_crc == 0}
            created = rep.aux.get("ctime")
            stamp = files[name][1]
            if created and created.lstrip("-").isdigit():
                stamp = datetime.datetime.fromtimestamp(int(created), datetime.timezone.utc)
            result["rdb"]["created"] = iso(stamp)
            if stamp and (newest_time is None or stamp > newest_time):
                newest_time = stamp
            note = " (checksum disabled)" if rep.stored_crc == 0 else ", CRC64 %016x matches" % rep.stored_crc
            checks["rdb"] = _ok("%s: RDB version %d%s" % (source.describe(name), rep.version, note))
        except ParseError as exc:
            checks["rdb"] = _failed(str(exc))

    if not rdbs and not manifests:
        checks["files"] = _failed("no RDB or AOF manifest found in %s" % source.describe())

    # -- age ----------------------------------------------------------------------------------------------------
    if newest_time is not None:
        age = (now - newest_time).total_seconds()
        result["snapshot_age_seconds"] = round(age, 3)
        result["newest_snapshot_time"] = iso(newest_time)
        if max_age is not None and age > max_age:
            checks["snapshot_age"] = _failed("the newest snapshot is %.0fs old, older than max_age %.0fs"
                                             % (age, max_age))
        else:
            checks["snapshot_age"] = _ok("the newest snapshot is %.0fs old" % age)
    result["checks"] = checks
    result["failed_checks"] = [n for n, c in checks.items() if c["status"] == "failed"]
    return result
