# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations, timestamps, ``s3://bucket/prefix`` URLs and the result of one check."""

from __future__ import annotations

import datetime
import re

from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import BackupError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value, name="duration"):
    """Seconds from ``30``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``, ``"1w"``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos and text[pos:match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise BackupError("%s %r is not a duration (use e.g. 30s, 15m, 1h30m, 7d)" % (name, value), "arguments")
    return total


def parse_time(value):
    """An aware datetime from backup.info's ``2026-11-28 08:56:55.393344+00:00`` (``None``/``"None"`` -> None)."""
    if value in (None, "", "None"):
        return None
    text = str(value).strip()
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp


def age_text(seconds):
    """``95`` -> ``"95s"``, ``600`` -> ``"10m"``, ``9000`` -> ``"2.5h"``, ``259200`` -> ``"3.0d"``."""
    seconds = int(round(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%.1fh" % (seconds / 3600.0)
    return "%.1fd" % (seconds / 86400.0)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(stamp):
    return stamp.astimezone(datetime.timezone.utc).isoformat() if stamp else None


def split_s3_url(url, name="destination_path"):
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    match = re.fullmatch(r"s3://([^/]+)(?:/(.*))?", (url or "").strip())
    if not match:
        raise BackupError("%s %r is not an s3://bucket/prefix URL" % (name, url), "arguments")
    return match.group(1), (match.group(2) or "").strip("/")


def check_result(status, message, **extra):
    """One check's verdict: ``{"status": "ok"|"failed"|"skipped", "message": ..., **extra}``."""
    out = {"status": status, "message": message}
    out.update(extra)
    return out
