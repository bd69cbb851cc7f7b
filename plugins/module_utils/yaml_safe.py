# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PyYAML's safe loader (libyaml's when PyYAML was built with it), and its errors told without the document.

PyYAML's own message for a parse error can quote the offending line; the documents read here (kubeconfigs,
rendered Secrets) hold credentials, so an error is told by its problem and position only.
"""

from __future__ import annotations


def safe_loader():
    """``yaml.CSafeLoader`` when available, else ``yaml.SafeLoader``. Raises ImportError without PyYAML."""
    import yaml  # pylint: disable=import-outside-toplevel

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def error_where(exc):
    """`` at line L, column C (problem)`` of a ``yaml.YAMLError``: where and why, never a line of the document."""
    mark = getattr(exc, "problem_mark", None)
    where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
    return "%s (%s)" % (where, getattr(exc, "problem", None) or type(exc).__name__)
