# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the target cluster serves, for the objects that differ per Kubernetes version.

``server_version`` reads ``/version``; ``served_api_version`` finds the group/version a kind is served in (the
group's preferred version first), e.g. CronJob in ``batch/v1`` from Kubernetes 1.21 and ``batch/v1beta1`` before.
"""

from __future__ import annotations

import re

from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError, SupertodoError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(git_version, major=None, minor=None):
    """``"1.20.2"`` from ``"v1.20.2+k3s1"``; from ``major``/``minor`` (``"20+"``) when gitVersion is not a version."""
    match = _VERSION.match(git_version or "")
    if match:
        return "%s.%s.%s" % (match.group(1), match.group(2), match.group(3) or "0")
    if major and minor:
        digits = re.match(r"\d+", str(minor))
        if str(major).isdigit() and digits:
            return "%s.%s.0" % (major, digits.group(0))
    raise SupertodoError("the API server's /version names no Kubernetes version (gitVersion %r, major %r, minor %r)"
                         % (git_version, major, minor))


def server_version(client):
    """``(version, gitVersion)`` the API server reports at ``/version``."""
    answer = client.request("GET", "/version") or {}
    git_version = answer.get("gitVersion") or ""
    return parse_version(git_version, answer.get("major"), answer.get("minor")), git_version


def served_api_version(client, group, kind):
    """The group/version ``kind`` is served in (the group's preferred version first), or ``None``."""
    if group in ("", "core"):
        candidates = ["v1"]
    else:
        try:
            answer = client.request("GET", "/apis/%s" % group) or {}
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        preferred = (answer.get("preferredVersion") or {}).get("groupVersion")
        candidates = [preferred] if preferred else []
        candidates += [v.get("groupVersion") for v in answer.get("versions") or []
                       if v.get("groupVersion") and v.get("groupVersion") != preferred]
    for group_version in candidates:
        path = "/api/v1" if group_version == "v1" else "/apis/%s" % group_version
        try:
            resources = (client.request("GET", path) or {}).get("resources") or []
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        if any(res.get("kind") == kind and "/" not in res.get("name", "") for res in resources):
            return group_version
    return None
