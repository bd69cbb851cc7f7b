"""CRC64 (Jones), RDB trailer checks, AOF manifest and RESP parsing on synthetic files."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup import aof, rdb
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import ParseError


def make_rdb(version=10, checksum=True):
    body = b"REDIS%04d" % version
    body += b"\xfa\x09redis-ver\x067.0.15" + b"\xfa\x05ctime\xc2" + struct.pack("<i", 1764320000)
    body += b"\xfe\x00\xfb\x01\x00\x00\x03key\x05value\xff"
    return body + struct.pack("<Q", rdb.crc64(body) if checksum else 0)


def test_crc64_check_value_and_chunking():
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert rdb.crc64(b"") == 0


def test_rdb_ok_in_small_chunks():
    data = make_rdb()
    checker = rdb.RdbChecker()
    for i in range(0, len(data), 3):
        checker.feed(data[i:i + 3])
    report = checker.finish()
    assert report.version == 10 and report.stored_crc == report.computed_crc
    assert report.aux == {"redis-ver": "7.0.15", "ctime": "1764320000"}


def test_rdb_flipped_byte_and_truncation():
    data = bytearray(make_rdb())
    data[20] ^= 0x40
    with pytest.raises(ParseError, match="CRC64 mismatch"):
        rdb.check_rdb_bytes(bytes(data))
    with pytest.raises(ParseError):
        rdb.check_rdb_bytes(make_rdb()[:-3])


def test_rdb_checksum_disabled_still_needs_eof():
    assert rdb.check_rdb_bytes(make_rdb(checksum=False)).stored_crc == 0
    bad = make_rdb(checksum=False)
    with pytest.raises(ParseError, match="EOF"):
        rdb.check_rdb_bytes(bad[:-9] + b"\x00" + bad[-8:])


def test_rdb_header():
    with pytest.raises(ParseError, match="not an RDB"):
        rdb.check_rdb_bytes(b"NOTREDIS" + b"\x00" * 20)
    with pytest.raises(ParseError, match="version 99"):
        rdb.check_rdb_bytes(make_rdb(version=99))


def test_manifest():
    entries = aof.parse_manifest("file appendonly.aof.2.base.rdb seq 2 type b\n"
                                 "file appendonly.aof.5.incr.aof seq 5 type i\n"
                                 "file appendonly.aof.6.incr.aof seq 6 type i\n")
    assert [e["type"] for e in entries] == ["b", "i", "i"]
    with pytest.raises(ParseError, match="exactly 1"):
        aof.parse_manifest("file a seq 1 type i\n")
    with pytest.raises(ParseError, match="out of sequence"):
        aof.parse_manifest("file b seq 1 type b\nfile x seq 3 type i\nfile y seq 2 type i\n")
    with pytest.raises(ParseError):
        aof.parse_manifest("file b seq one type b\n")


def test_resp_streaming_and_truncation():
    stream = b"#TS:1764320000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
    checker = aof.RespChecker()
    for i in range(0, len(stream), 4):
        checker.feed(stream[i:i + 4])
    assert checker.finish() == 2
    cut = aof.RespChecker()
    cut.feed(stream[:-4])
    with pytest.raises(ParseError, match="truncated"):
        cut.finish()
    bad = aof.RespChecker()
    with pytest.raises(ParseError, match="expected"):
        bad.feed(b"SET k v\r\n")
