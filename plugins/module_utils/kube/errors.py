# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by module_utils; modules turn them into ``fail_json`` in ``main()`` only."""

from __future__ import annotations


class SupertodoError(Exception):
    """Base class: the message names the resource and the cause."""


class ConnectionConfigError(SupertodoError):
    """The kubeconfig, context or credentials cannot be used."""


class ApiError(SupertodoError):
    """The API server answered with an error (``status`` is the HTTP status, 0 when unreachable)."""

    def __init__(self, message, status=0, reason="", body=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body
