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


class Conflicts(SupertodoError):
    """Server-side apply would change fields other field managers own; nothing was written.

    ``conflicts`` is a list of ``(object ref, [{"field": ..., "manager": ...}])``.
    """

    def __init__(self, conflicts):
        lines = ["%s: %s owned by %s" % (label, c["field"], c["manager"]) for label, items in conflicts for c in items]
        super().__init__("%d field conflict(s) with other field managers, nothing applied (change the inventory to "
                         "match, undo the other change, or set force_conflicts: true to take the fields over):\n%s"
                         % (len(lines), "\n".join(lines)))
        self.conflicts = conflicts
        self.partial = {"conflicts": [{"ref": label, "field": c["field"], "manager": c["manager"]}
                                      for label, items in conflicts for c in items]}


class ApplyFailed(SupertodoError):
    """The API server refused an object."""


class RenderFailed(SupertodoError):
    """The GitOps tree cannot be written."""
