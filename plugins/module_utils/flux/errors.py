# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the Flux helpers; the modules turn them into ``fail_json`` in ``main()``."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError


class FluxError(SupertodoError):
    """Base class for Flux errors; ``result`` carries what is known about the object when it stopped."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result or {}


class UnknownKindError(FluxError):
    """The kind is not a Flux kind this collection knows."""


class NotFoundError(FluxError):
    """The Flux object does not exist."""


class SuspendedError(FluxError):
    """The object is suspended: Flux would not act on a reconcile request."""


class ReconcileFailedError(FluxError):
    """The controller handled our request and reported failure (Ready False or Stalled True)."""


class ReconcileTimeoutError(FluxError):
    """The controller did not report success for our request before the timeout."""
