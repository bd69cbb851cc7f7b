"""backup.info parsing, bucket layout classification, durations and URLs."""

from __future__ import annotations

import pytest

from ansible_collections.supertodo.platform.plugins.module_utils.backup import barman, common
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import BackupError, ParseError

INFO = """backup_label='START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\\nSTART TIMELINE: 1\\n'
begin_time=2026-11-28 08:56:55.393344+00:00
begin_wal=000000010000000000000002
end_time=2026-11-28 08:57:00.205282+00:00
end_wal=000000010000000000000002
error=None
status=DONE
timeline=1
xlog_segment_size=16777216
"""


def test_parse_done_backup():
    backup = barman.Backup("20261128T085655", barman.parse_backup_info(INFO), "k")
    assert backup.usable and backup.timeline == 1 and backup.segment_size == 16777216
    assert backup.backup_label.startswith("START WAL LOCATION: 0/2000028")
    assert backup.end_time.isoformat() == "2026-11-28T08:57:00.205282+00:00"


def test_done_backup_with_bad_fields_is_not_usable():
    backup = barman.Backup("b", barman.parse_backup_info(INFO.replace("end_wal=000000010000000000000002",
                                                                      "end_wal=None")), "k")
    assert not backup.usable and "end_wal missing or invalid" in backup.problems


@pytest.mark.parametrize("text", ["\x00\x01\x02", "no equals sign here\n", "status=DONE\n"])
def test_corrupt_backup_info(text):
    with pytest.raises(ParseError):
        barman.parse_backup_info(text)


def test_classify_key():
    pre = "pg/srv/"
    assert barman.classify_key(pre + "base/B1/backup.info", pre) == ("backup_info", "B1", None)
    assert barman.classify_key(pre + "base/B1/data.tar.gz", pre) == ("backup_data", "B1", "data.tar.gz")
    assert barman.classify_key(pre + "wals/0000000100000000/000000010000000000000003.gz", pre)[:2] == \
        ("wal", "segment")
    assert barman.classify_key(pre + "wals/00000002.history", pre)[:2] == ("wal", "history")
    # a segment in the wrong hash directory is not counted
    assert barman.classify_key(pre + "wals/0000000100000001/000000010000000000000003", pre)[0] == "other"
    assert barman.is_data_tar("data.tar.bz2") and barman.is_data_tar("16385.tar")
    assert not barman.is_data_tar("backup.info")


@pytest.mark.parametrize("value,seconds", [(30, 30), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("7d", 604800),
                                           ("1w", 604800), ("2.5", 2.5)])
def test_durations(value, seconds):
    assert common.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 parsecs", "1h xx"])
def test_bad_durations(value):
    with pytest.raises(BackupError, match="not a duration"):
        common.parse_duration(value)


def test_s3_url():
    assert common.split_s3_url("s3://super-todo-backups/postgres-production") == \
        ("super-todo-backups", "postgres-production")
    assert common.split_s3_url("s3://b") == ("b", "")
    with pytest.raises(BackupError):
        common.split_s3_url("https://b/x")
