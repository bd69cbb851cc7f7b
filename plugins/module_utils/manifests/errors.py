# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the manifest delivery helpers (validation, apply, render)."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import SupertodoError


class ManifestInvalid(SupertodoError):
    """One or more objects failed offline validation; ``problems`` lists one message per problem."""

    def __init__(self, problems):
        super().__init__("%d invalid object(s), nothing applied or written:\n%s" % (len(problems), "\n".join(problems)))
        self.problems = problems


class FieldsPruned(SupertodoError):
    """The API server dropped (or, for server-side apply on some versions, refused) fields unknown to its schema."""

    def __init__(self, ref, paths, how="silently dropped"):
        super().__init__("%s: the API server %s field(s) it does not know: %s "
                         "(its schema or CRD lacks them; upgrade the CRD/cluster or remove the field)"
                         % (ref, how, ", ".join(paths)))
        self.ref = ref
        self.paths = paths


class ApplyFailed(SupertodoError):
    """The API server refused an object."""


class RenderFailed(SupertodoError):
    """The GitOps tree cannot be written."""
