# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the verify role (roles/verify): the environment report, the produced objects against the live ones.

``supertodo.platform.verify_wanted(manifests, names, namespace)`` reduces the objects the roles produced to what
the inventory wants per row; ``supertodo.platform.verify_live(objects, names)`` reduces the live objects the same
way; ``supertodo.platform.verify_report(live, wanted, ...)`` puts them side by side, marks drift and adds the
readiness verdict; ``verify_table`` / ``verify_markdown`` format it. The work is done in
plugins/module_utils/verify/ (facts, compare, readiness, render); this file only names the filters.
"""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.verify.common import (
    ROWS,
    VerifyInputError,
    quantity,
)
from ansible_collections.supertodo.platform.plugins.module_utils.verify.compare import (
    build_report,
    display,
    normalise,
    parse_promotion,
)
from ansible_collections.supertodo.platform.plugins.module_utils.verify.facts import live_facts, produced_facts
from ansible_collections.supertodo.platform.plugins.module_utils.verify.readiness import readiness
from ansible_collections.supertodo.platform.plugins.module_utils.verify.render import (
    markdown,
    promotion_text,
    text_table,
)

# the report's functions, for the callers and tests that import this file
__all__ = [
    "ROWS", "VerifyInputError", "quantity", "build_report", "display", "normalise", "parse_promotion", "live_facts",
    "produced_facts", "readiness", "markdown", "promotion_text", "text_table", "FilterModule",
]


class FilterModule:
    """Filters of the supertodo.platform verify role."""

    def filters(self):
        return {
            "verify_wanted": produced_facts,
            "verify_live": live_facts,
            "verify_report": build_report,
            "verify_readiness": readiness,
            "verify_table": text_table,
            "verify_markdown": markdown,
        }
