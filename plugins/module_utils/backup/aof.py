# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis 7 multi-part AOF: the manifest and its base/incremental files.

The manifest (``<appendfilename>.manifest`` in ``appenddirname``) has one line per file:
``file <name> seq <n> type <b|h|i>`` (base, history, incremental). The base file is an RDB (``REDIS`` preamble)
or an AOF; incremental files are RESP commands (``*<argc>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per argument).
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError

FILE_TYPES = {"b": "base", "h": "history", "i": "incr"}


def parse_manifest(text, name="manifest"):
    """A list of dicts ``{file, seq, type}``; raises ParseError on a malformed line."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) % 2:
            raise ParseError("%s line %d: odd number of fields: %r" % (name, number, line), "aof")
        entry = dict(zip(fields[0::2], fields[1::2]))
        if "file" not in entry or "seq" not in entry or entry.get("type") not in FILE_TYPES:
            raise ParseError("%s line %d lacks file/seq/type b|h|i: %r" % (name, number, line), "aof")
        try:
            entry["seq"] = int(entry["seq"])
        except ValueError as exc:
            raise ParseError("%s line %d: seq %r is not a number" % (name, number, entry["seq"]), "aof") from exc
        entries.append(entry)
    bases = [e for e in entries if e["type"] == "b"]
    if len(bases) != 1:
        raise ParseError("%s lists %d base files, expected exactly 1" % (name, len(bases)), "aof")
    incrs = [e["seq"] for e in entries if e["type"] == "i"]
    if incrs != sorted(incrs) or len(set(incrs)) != len(incrs):
        raise ParseError("%s: incremental files out of sequence: %s" % (name, incrs), "aof")
    return entries


class RespChecker:
    """Feed an AOF stream in chunks; counts complete commands; ``finish()`` fails on a partial last command."""

    def __init__(self, name="AOF"):
        self.name = name
        self.buf = b""
        self.commands = 0
        self.offset = 0
        self.state = None  # (args left, pending bulk length or None)

    def feed(self, chunk):
        self.buf += chunk
        pos = 0
        buf = self.buf
        while True:
            if self.state is None:
                if pos >= len(buf):
                    break
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                line = buf[pos:end]
                if line.startswith(b"#"):  # annotations (timestamps) written by Redis 7
                    pos = end + 2
                    continue
                if not line.startswith(b"*") or not line[1:].isdigit():
                    raise ParseError("%s: byte %d: expected '*<argc>', found %r" % (self.name, self.offset + pos,
                                                                                    line[:40]), "aof")
                self.state = [int(line[1:]), None]
                pos = end + 2
            left, bulk = self.state
            if left == 0:
                self.commands += 1
                self.state = None
                continue
            if bulk is None:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                line = buf[pos:end]
                if not line.startswith(b"$") or not line[1:].isdigit():
                    raise ParseError("%s: byte %d: expected '$<len>', found %r" % (self.name, self.offset + pos,
                                                                                   line[:40]), "aof")
                self.state[1] = int(line[1:])
                pos = end + 2
                continue
            if len(buf) - pos < bulk + 2:
                break
            if buf[pos + bulk:pos + bulk + 2] != b"\r\n":
                raise ParseError("%s: byte %d: argument not terminated by CRLF" % (self.name, self.offset + pos), "aof")
            pos += bulk + 2
            self.state = [left - 1, None]
        self.buf = buf[pos:]
        self.offset += pos

    def finish(self):
        if self.state is not None or self.buf:
            raise ParseError("%s: truncated: the last command at byte %d is incomplete (%d bytes left over)"
                             % (self.name, self.offset, len(self.buf)), "aof")
        return self.commands
