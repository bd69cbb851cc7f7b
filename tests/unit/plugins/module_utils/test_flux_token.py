# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request tokens and the annotations that carry them."""

from __future__ import annotations

import re

from ansible_collections.supertodo.platform.plugins.module_utils.flux import token as tokens

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_token_is_rfc3339_with_nanoseconds_and_trims_zeros():
    assert tokens.new_token(now_ns=1_700_000_000_123_450_000) == "2023-11-14T22:13:20.12345Z"
    assert RFC3339NANO.match(tokens.new_token())


def test_tokens_are_unique_and_increasing_even_in_the_same_nanosecond():
    fixed = 1_900_000_000_000_000_000
    first = tokens.new_token(now_ns=fixed)
    second = tokens.new_token(now_ns=fixed)
    assert first != second
    many = [tokens.new_token() for dummy in range(500)]
    assert len(set(many)) == 500


def test_helmrelease_force_and_reset_carry_the_same_token():
    patch = tokens.request_patch("T1", "HelmRelease", force=True, reset=True)
    assert patch == {"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": "T1", "reconcile.fluxcd.io/forceAt": "T1",
        "reconcile.fluxcd.io/resetAt": "T1"}}}


def test_force_and_reset_only_apply_to_helmrelease():
    assert tokens.request_annotations("T2", "Kustomization", force=True, reset=True) == {
        "reconcile.fluxcd.io/requestedAt": "T2"}
    assert tokens.request_annotations("T3", "HelmRelease") == {"reconcile.fluxcd.io/requestedAt": "T3"}
