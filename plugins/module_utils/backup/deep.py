# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``deep`` check: read the newest usable backup's data tar(s) to the end, decompressing as they stream."""

from __future__ import annotations

import bz2
import lzma
import tarfile
import zlib

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import check_result as _result


class _CountingReader:
    """A file-like wrapper that counts the compressed bytes read from the S3 body."""

    def __init__(self, body):
        self.body = body
        self.count = 0

    def read(self, size=-1):
        data = self.body.read(size if size and size > 0 else None)
        self.count += len(data)
        return data


def deep_check(store, arc, backup):
    """Read the newest usable backup's tar(s) to the end: tar structure, byte counts, backup_label."""
    if backup is None:
        return _result("failed", "no usable backup to read")
    files = sorted(arc.data_files.get(backup.backup_id, []))
    if not files:
        return _result("failed", "backup %s has no data tar under base/%s/" % (backup.backup_id, backup.backup_id))
    members = 0
    payload = 0
    label = None
    encryption = {}
    for filename, key, listed_size in files:
        body, length, meta = store.open_object(key)
        encryption[filename] = meta.get("encryption")
        reader = _CountingReader(body)
        try:
            with tarfile.open(fileobj=_decompressor(filename, reader), mode="r|") as tar:
                for member in tar:
                    members += 1
                    if member.isfile():
                        handle = tar.extractfile(member)
                        got = 0
                        chunk = handle.read(1 << 20)
                        while chunk:
                            got += len(chunk)
                            if filename.startswith("data.") and member.name.lstrip("./") == "backup_label":
                                label = (label or b"") + chunk
                            chunk = handle.read(1 << 20)
                        if got != member.size:
                            raise tarfile.ReadError("member %s: %d of %d bytes" % (member.name, got, member.size))
                        payload += got
            while reader.read(1 << 20):
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            return _result("failed", "backup %s: %s is not a complete tar archive: %s"
                           % (backup.backup_id, filename, exc or type(exc).__name__))
        except store.read_errors() as exc:
            raise store.error(exc, "reading %s" % key) from exc
        finally:
            body.close()
        expected = length if length is not None else listed_size
        if reader.count != expected:
            return _result("failed", "backup %s: %s read %d bytes, the object is %s bytes"
                           % (backup.backup_id, filename, reader.count, expected))
    if label is None:
        return _result("failed", "backup %s: data tar has no backup_label" % backup.backup_id)
    text = label.decode("utf-8", "replace")
    if backup.backup_label and text.strip() != str(backup.backup_label).strip():
        return _result("failed", "backup %s: backup_label in the tar differs from backup.info" % backup.backup_id)
    if backup.begin_wal and backup.begin_wal not in text:
        return _result("failed", "backup %s: backup_label does not name begin_wal %s" % (backup.backup_id,
                                                                                         backup.begin_wal))
    return _result("ok", "backup %s: %d tar files, %d members, %d bytes of data read to the end; backup_label "
                         "matches backup.info; server-side encryption %s"
                   % (backup.backup_id, len(files), members, payload,
                      ", ".join(sorted(set(encryption.values())))),
                   members=members, data_bytes=payload, encryption=encryption)


class _Decompress:
    def __init__(self, reader, decompressor):
        self.reader = reader
        self.dec = decompressor
        self.buffer = b""
        self.eof = False

    def read(self, size=-1):
        while not self.eof and (size < 0 or len(self.buffer) < size):
            raw = self.reader.read(1 << 16)
            if not raw:
                if not getattr(self.dec, "eof", True):
                    raise EOFError("compressed stream ended before its end marker (truncated)")
                self.eof = True
                break
            self.buffer += self.dec.decompress(raw)
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def _decompressor(filename, reader):
    if filename.endswith(".gz"):
        return _Decompress(reader, zlib.decompressobj(47))
    if filename.endswith(".bz2"):
        return _Decompress(reader, bz2.BZ2Decompressor())
    if filename.endswith(".xz"):
        return _Decompress(reader, lzma.LZMADecompressor())
    if filename.endswith(".tar"):
        return reader
    raise ValueError("compression of %s is not supported by the deep check (tar, gz, bz2, xz)" % filename)
