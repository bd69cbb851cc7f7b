# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the backup checks; modules turn them into ``fail_json`` in ``main()``."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError


class BackupError(SupertodoError):
    """Base class. ``check`` names the check that could not run or failed (e.g. ``storage``)."""

    def __init__(self, message, check="storage"):
        super().__init__(message)
        self.check = check


class StorageError(BackupError):
    """The object store cannot be used: endpoint unreachable, wrong credentials, missing bucket."""


class ParseError(BackupError):
    """A file of the archive cannot be parsed (backup.info, WAL name, .history, RDB, AOF)."""

    def __init__(self, message, check="parse"):
        super().__init__(message, check)
