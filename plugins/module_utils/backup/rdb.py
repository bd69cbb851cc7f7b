# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis RDB files: header, auxiliary fields and the CRC64 trailer, checked by our own CRC64.

Redis uses CRC-64/Jones: reflected polynomial 0x95AC9329AC4BC9B5, initial value 0, no final xor
(check value of ``b"123456789"`` is 0xE9C6D914C4B8D9CA). An RDB file is ``REDIS`` + 4 ASCII digits of version,
opcodes, ``0xFF`` (EOF) and the little-endian CRC64 of every byte before it (0 when ``rdbchecksum no``).
"""

from __future__ import annotations

import struct

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError

_POLY = 0x95AC9329AC4BC9B5


def _table():
    table = []
    for byte in range(256):
        crc = byte
        for dummy in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()
MAX_RDB_VERSION = 12
OP_AUX, OP_EOF = 0xFA, 0xFF


def crc64(data, crc=0):
    """CRC-64/Jones of ``data``, continuing from ``crc``."""
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


class RdbReport:
    def __init__(self):
        self.version = None
        self.aux = {}
        self.size = 0
        self.stored_crc = None
        self.computed_crc = None


class RdbChecker:
    """Feed an RDB stream in chunks; ``finish()`` checks the trailer. Memory: one chunk plus 9 trailing bytes."""

    def __init__(self, name="RDB"):
        self.name = name
        self.crc = 0
        self.tail = b""
        self.head = b""
        self.size = 0
        self.last_crc_byte = None

    def feed(self, chunk):
        if not chunk:
            return
        self.size += len(chunk)
        if len(self.head) < 4096:
            self.head += chunk[: 4096 - len(self.head)]
        data = self.tail + chunk
        # keep the last 8 bytes back: they may be the checksum, which is not part of the CRC
        if len(data) > 8:
            self.crc = crc64(data[:-8], self.crc)
            self.last_crc_byte = data[-9]
        self.tail = data[-8:] if len(data) > 8 else data

    def finish(self):
        report = RdbReport()
        report.size = self.size
        header = self.head[:9]
        if len(header) < 9 or not header.startswith(b"REDIS") or not header[5:9].isdigit():
            raise ParseError("%s: not an RDB file (header %r)" % (self.name, header), "rdb")
        report.version = int(header[5:9])
        if not 1 <= report.version <= MAX_RDB_VERSION:
            raise ParseError("%s: RDB version %d is not supported (1..%d)" % (self.name, report.version,
                                                                              MAX_RDB_VERSION), "rdb")
        report.aux = parse_aux(self.head)
        if self.size < 18 or len(self.tail) < 8:
            raise ParseError("%s: truncated (%d bytes)" % (self.name, self.size), "rdb")
        if report.version >= 5:
            report.stored_crc = struct.unpack("<Q", self.tail)[0]
            report.computed_crc = self.crc
            # the EOF opcode is the byte right before the checksum and was fed to the CRC
            if report.stored_crc != 0 and report.stored_crc != report.computed_crc:
                raise ParseError("%s: CRC64 mismatch: stored %016x, computed %016x (the file is corrupt or truncated)"
                                 % (self.name, report.stored_crc, report.computed_crc), "rdb")
        if self.last_crc_byte != OP_EOF:
            raise ParseError("%s: no EOF opcode before the checksum (truncated)" % self.name, "rdb")
        return report


def check_rdb_bytes(data, name="RDB"):
    checker = RdbChecker(name)
    checker.feed(data)
    return checker.finish()


def _length(buf, pos):
    """Redis length encoding -> (value, special encoding or None, new pos)."""
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, None, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | buf[pos + 1], None, pos + 2
    if kind == 2:
        if first == 0x80:
            return struct.unpack(">I", buf[pos + 1:pos + 5])[0], None, pos + 5
        if first == 0x81:
            return struct.unpack(">Q", buf[pos + 1:pos + 9])[0], None, pos + 9
        raise ParseError("bad length byte %#x" % first, "rdb")
    return None, first & 0x3F, pos + 1


def _string(buf, pos):
    length, special, pos = _length(buf, pos)
    if special is None:
        return buf[pos:pos + length].decode("utf-8", "replace"), pos + length
    if special == 0:
        return str(struct.unpack("<b", buf[pos:pos + 1])[0]), pos + 1
    if special == 1:
        return str(struct.unpack("<h", buf[pos:pos + 2])[0]), pos + 2
    if special == 2:
        return str(struct.unpack("<i", buf[pos:pos + 4])[0]), pos + 4
    raise ParseError("compressed aux field", "rdb")


def parse_aux(head):
    """The AUX fields at the start of an RDB (``redis-ver``, ``ctime``, ...), as far as ``head`` reaches."""
    aux = {}
    pos = 9
    try:
        while pos < len(head) and head[pos] == OP_AUX:
            key, pos = _string(head, pos + 1)
            value, pos = _string(head, pos)
            aux[key] = value
    except (ParseError, IndexError, struct.error):
        pass
    return aux
