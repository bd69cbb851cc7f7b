# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the preflight role (roles/preflight): inventory values checked against the grammar of the program
that will read them, before anything is applied.

Every ``*_problems`` filter takes a mapping of inventory variable name to value and returns a list of messages,
each naming its variable, the rule and the value (empty: all good). A value of ``None`` (the variable is not set)
is skipped. ``redis_maxmemory_warnings`` returns warnings, not errors.

- ``cron_problems``: the six-field cron of CloudNativePG's ScheduledBackup (seconds first) or, with
  ``seconds=false``, the five-field cron of a Kubernetes CronJob; ranges, lists, names and steps per field, as
  the robfig/cron parser both use reads them.
- ``redis_memory_problems``: a memory size in Redis's own units (``1024mb``, ``1gb``, ``100k``, bytes).
- ``image_repository_problems``: an OCI image repository (distribution/reference grammar), without tag or digest.
- ``git_branch_problems``: a branch name as ``git check-ref-format --branch`` accepts it.
- ``quantity_problems``: a Kubernetes quantity (resource.Quantity: ``50Gi``, ``512Mi``, ``100m``, ``1e3``).
- ``count_problems``: a non-negative integer (or at least ``minimum``) where a count is meant.
- ``redis_maxmemory_warnings``: Redis ``maxmemory`` not below the container's memory limit.
- ``weak_secrets``: the refusals of production (weak secrets, the image tag ``latest``, backups off or
  unencrypted), each as ``{variable, override, reason}``; never a secret value, in the result or in an error.
- ``kubeconfig_contexts``: the context names and current context of a kubeconfig file, or why it is not one;
  never a line of the file (it holds credentials).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.supertodo.platform.plugins.module_utils.kube import kubeconfig

# -- cron -------------------------------------------------------------------------------------------------------------

_MONTHS = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (field name, lowest, highest, names)
_CRON_FIELDS = (
    ("seconds", 0, 59, None),
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)
# the descriptors the Kubernetes CronJob parser (robfig/cron ParseStandard) accepts instead of five fields
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_NUMBER = re.compile(r"^[0-9]+$")


def _cron_value(text, names):
    """The number of one cron value (a number or, where the field has them, a three-letter name), else None."""
    if names and text.lower() in names:
        return names[text.lower()]
    if _NUMBER.match(text):
        return int(text)
    return None


def _cron_term(term, field):
    """The problem of one list item of a cron field (``*``, ``?``, ``a``, ``a-b``, each with an optional ``/n``),
    or None."""
    name, low, high, names = field
    allowed = "%d-%d" % (low, high) + (" or names such as %s" % ", ".join(list(names)[:3]) if names else "")
    if term == "":
        return "an empty list item"
    range_and_step = term.split("/")
    if len(range_and_step) > 2:
        return "more than one '/'"
    span = range_and_step[0]
    if span in ("*", "?"):
        start, end = low, high
    else:
        bounds = span.split("-")
        if len(bounds) > 2:
            return "more than one '-'"
        values = [_cron_value(b, names) for b in bounds]
        for text, value in zip(bounds, values):
            if value is None:
                return "%r is not a number%s" % (text, " or a name" if names else "")
        start, end = values[0], values[-1]
        if len(range_and_step) == 2 and len(bounds) == 1:
            end = high  # "a/n" means "a-<highest>/n"
        for value in values:
            if not low <= value <= high:
                return "%d is outside %s" % (value, allowed)
        if start > end:
            return "the range starts after it ends"
    if len(range_and_step) == 2:
        step = range_and_step[1]
        if not _NUMBER.match(step) or int(step) == 0:
            return "the step after '/' must be a positive whole number"
    return None


def cron_problems(values, seconds=True):
    """Problems of cron schedules, per field: six fields (seconds minutes hours day-of-month month day-of-week) as
    CloudNativePG reads them, or five (no seconds; descriptors such as @daily allowed) as a Kubernetes CronJob."""
    fields = _CRON_FIELDS if seconds else _CRON_FIELDS[1:]
    problems = []
    for variable, value in _items(values):
        text = str(value).strip()
        got = "(got %r)" % str(value)
        if not seconds and text in _CRON_DESCRIPTORS:
            continue
        parts = text.split()
        if len(parts) != len(fields):
            problems.append("%s must have %s fields (%s), as %s expects %s" % (
                variable, "six" if seconds else "five", " ".join(f[0].replace(" ", "-") for f in fields),
                "CloudNativePG" if seconds else "a Kubernetes CronJob", got))
            continue
        for number, (part, field) in enumerate(zip(parts, fields), start=1):
            for term in part.split(","):
                problem = _cron_term(term, field)
                if problem:
                    problems.append("%s field %d (%s) %r: %s %s" % (variable, number, field[0], term, problem, got))
                    break
    return problems


# -- Redis memory -----------------------------------------------------------------------------------------------------

# Redis's memtoull(): digits, then nothing, b, k, kb, m, mb, g or gb (case-insensitive); no sign, no space.
_REDIS_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3}
_REDIS_MEMORY = re.compile(r"^([0-9]+)([a-zA-Z]*)$")


def redis_memory_bytes(value):
    """The bytes of a Redis memory size (``1024mb`` -> 1073741824), or None when Redis would refuse it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    match = _REDIS_MEMORY.match(str(value))
    if not match or match.group(2).lower() not in _REDIS_UNITS:
        return None
    return int(match.group(1)) * _REDIS_UNITS[match.group(2).lower()]


def redis_memory_problems(values):
    """Problems of Redis memory sizes (an empty value means "not set" and is skipped)."""
    problems = []
    for variable, value in _items(values):
        if str(value) == "":
            continue
        if redis_memory_bytes(value) is None:
            problems.append("%s must be a Redis memory size: digits and an optional unit b, k, kb, m, mb, g or gb, "
                            "without a space, such as 768mb or 1gb (got %r)" % (variable, str(value)))
    return problems


# -- Kubernetes quantities (for the memory limit the warning compares with) -------------------------------------------

_K8S_SUFFIX = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4, "P": 1000 ** 5, "E": 1000 ** 6,
               "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "Pi": 1024 ** 5, "Ei": 1024 ** 6, "m": 0.001}
_K8S_QUANTITY = re.compile(r"^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def _quantity_bytes(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    match = _K8S_QUANTITY.match(str(value))
    if not match:
        return None
    return float(match.group(1)) * _K8S_SUFFIX[match.group(2) or ""]


# the whole grammar of resource.Quantity: a number and an optional suffix or exponent; "50GB" or "1.5cores" are not
_K8S_QUANTITY_TEXT = re.compile(r"^[+]?([0-9]+([.][0-9]*)?|[.][0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


def quantity_problems(values):
    """Problems of Kubernetes quantities (storage sizes and the like)."""
    return ["%s must be a Kubernetes quantity such as 50Gi or 512Mi (got %s)" % (variable, json.dumps(str(value)))
            for variable, value in _items(values) if not _K8S_QUANTITY_TEXT.match(str(value))]


def redis_maxmemory_warnings(maxmemory, limit, maxmemory_variable="redis_maxmemory",
                             limit_variable="redis_resources.limits.memory"):
    """Warnings when Redis ``maxmemory`` leaves no room below the container memory limit (none when either is
    unset or malformed: the errors of redis_memory_problems and the quantity check cover those)."""
    if maxmemory is None or str(maxmemory) == "" or limit is None or str(limit) == "":
        return []
    wanted = redis_memory_bytes(maxmemory)
    ceiling = _quantity_bytes(limit)
    if wanted is None or ceiling is None:
        return []
    why = ("Redis needs memory beyond maxmemory (the fork of RDB snapshots and AOF rewrites, replication and client "
           "buffers, fragmentation), so a node can be OOM-killed; keep maxmemory at about 75 %% of the limit "
           "(%s for %s)" % (_redis_size(int(ceiling * 0.75)), limit))
    if wanted == 0:
        return ["%s is 0 (no limit): Redis may grow up to %s %s and be OOM-killed; %s" % (
            maxmemory_variable, limit_variable, limit, why)]
    if wanted >= ceiling:
        return ["%s %s (%d bytes) is not below %s %s (%d bytes): no headroom. %s" % (
            maxmemory_variable, maxmemory, wanted, limit_variable, limit, int(ceiling), why)]
    return []


def _redis_size(size):
    for unit, factor in (("gb", 1024 ** 3), ("mb", 1024 ** 2), ("kb", 1024)):
        if size >= factor:
            return "%d%s" % (size // factor, unit)
    return str(size)


# -- OCI image repositories -------------------------------------------------------------------------------------------

# github.com/distribution/reference regexp.go: [domain[:port]/]path-component[/path-component...], at most 255
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|\[[a-fA-F0-9:]+\])"
_DOMAIN = _HOST + r"(?::[0-9]+)?"
_REPOSITORY = re.compile(r"^(?:(" + _DOMAIN + r")/)?(" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*)$")
_TAG_OR_DIGEST = re.compile(r"^(.+?)(:[\w][\w.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
_NAME_MAX = 255


def _repository_ok(text):
    match = _REPOSITORY.match(text)
    if not match or len(text) > _NAME_MAX:
        return False
    domain = match.group(1)
    # a first component with capitals is a registry host only when it looks like one (a dot, a port, localhost);
    # otherwise "Andreqko/super-todo" would silently mean a registry called Andreqko
    if domain and domain != domain.lower() and not ("." in domain or ":" in domain or domain == "localhost"):
        return False
    return True


def image_repository_problems(values):
    """Problems of OCI image repositories (the tag lives in its own variable)."""
    problems = []
    for variable, value in _items(values):
        text = str(value)
        if _repository_ok(text):
            continue
        split = _TAG_OR_DIGEST.match(text)
        if split and (split.group(2) or split.group(3)) and _repository_ok(split.group(1)):
            problems.append("%s must be an image repository without a tag or digest: set the tag in its own variable "
                            "(got %r)" % (variable, text))
            continue
        problems.append("%s must be an OCI image repository such as andreqko/super-todo or "
                        "registry.example.com:5000/team/app: lower-case path components of letters and digits "
                        "joined by '.', '_', '__' or '-', separated by '/', an optional registry host[:port] first, "
                        "at most %d characters (got %r)" % (variable, _NAME_MAX, text))
    return problems


# -- Git branches -----------------------------------------------------------------------------------------------------

_GIT_BAD_CHARS = set(" ~^:?*[\\\x7f") | {chr(c) for c in range(0x20)}


def _git_branch_problem(name):
    """The first rule of ``git check-ref-format --branch`` (refs/heads/<name>) the name breaks, or None."""
    if name == "":
        return "is empty"
    if name.startswith("-"):
        return "starts with '-'"
    if name == "HEAD":
        return "is HEAD"
    if name == "@":
        return "is '@'"
    bad = sorted({c for c in name if c in _GIT_BAD_CHARS})
    if bad:
        return "contains %s (no space, control character, ~ ^ : ? * [ or \\)" % ", ".join(repr(c) for c in bad)
    if ".." in name:
        return "contains '..'"
    if "@{" in name:
        return "contains '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty component (a leading, trailing or double '/')"
    if name.endswith("."):
        return "ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return "has a component starting with '.' (%r)" % component
        if component.endswith(".lock"):
            return "has a component ending with '.lock' (%r)" % component
    return None


def git_branch_problems(values):
    """Problems of Git branch names, by the rules of ``git check-ref-format --branch``."""
    problems = []
    for variable, value in _items(values):
        problem = _git_branch_problem(str(value))
        if problem:
            problems.append("%s must be a Git branch name (git check-ref-format --branch): it %s (got %r)" % (
                variable, problem, str(value)))
    return problems


# -- counts -----------------------------------------------------------------------------------------------------------

def count_problems(values, minimum=0):
    """Problems of counts: whole numbers (an int, or a string of digits as ``-e name=3`` gives) not below
    ``minimum``."""
    problems = []
    for variable, value in _items(values):
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            number = int(text) if re.match(r"^[+-]?[0-9]+$", text) else None
        if number is None or number < int(minimum):
            what = "a non-negative integer" if int(minimum) == 0 else "a whole number of at least %d" % int(minimum)
            problems.append("%s must be %s (got %s)" % (variable, what, str(value)))
    return problems


# -- weak secrets and the other refusals of production ---------------------------------------------------------------

def _flag(value):
    """A yes/no setting as the ``bool`` filter reads it (an unknown value is no)."""
    return boolean(value, strict=False)


def _texts(values, option):
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        # the option may hold passwords (seed_passwords): name its type, never its value
        raise AnsibleFilterError("weak_secrets: %s must be a list, got %s" % (option, type(values).__name__))
    return [str(value) for value in values]


def weak_secrets(values, seed_passwords=(), refused_substrings=(), min_length=16, image_tag=None,
                 backups_enabled=False, backups_encryption="AES256", refuse_latest_tag=False,
                 refuse_unencrypted_backups=False, refuse_backups_disabled=False):
    """The refusals of production, in order: per secret variable (in the order of ``values``) empty, else a seed
    password, each refused substring it contains (any case), shorter than ``min_length``; then the image tag
    ``latest`` (or empty), unencrypted backups, backups off. Each is ``{variable, override, reason}``, the override
    being the supertodo_overrides entry that lifts it. Names and reasons only: no value, here or in an error."""
    if not isinstance(values, Mapping):
        raise AnsibleFilterError("weak_secrets: expects a mapping of secret variable name to value, got %s"
                                 % type(values).__name__)
    seeds = set(_texts(seed_passwords, "seed_passwords"))
    substrings = _texts(refused_substrings, "refused_substrings")
    try:
        shortest = int(str(min_length).strip())
    except ValueError:
        raise AnsibleFilterError("weak_secrets: min_length must be a whole number, got %s"
                                 % type(min_length).__name__) from None
    problems = []

    def refuse(variable, override, reason):
        problems.append({"variable": variable, "override": override, "reason": reason})

    for variable, value in values.items():
        text = "" if value is None else str(value)
        if text == "":
            refuse(variable, "allow_empty_secret", "is empty (set it in an ansible-vault file or SUPERTODO_%s)"
                   % re.sub("^secrets_", "", str(variable)).upper())
            continue
        if text in seeds:
            refuse(variable, "allow_seed_password", "is a password written in plain text in the current setup")
        for bad in substrings:
            if bad in text.lower():
                refuse(variable, "allow_change_me_password", "contains %s" % json.dumps(bad))
        if len(text) < shortest:
            refuse(variable, "allow_short_password", "is shorter than %s characters" % min_length)
    if _flag(refuse_latest_tag) and str(image_tag).lower() in ("latest", ""):
        refuse("super_todo_image_tag", "allow_latest_image_tag",
               "is %s: production needs a release tag" % json.dumps(image_tag))
    if _flag(refuse_unencrypted_backups) and _flag(backups_enabled) and str(backups_encryption) == "":
        refuse("backups_encryption", "allow_unencrypted_backups",
               "is empty: production encrypts its base backups and WAL on the object store (AES256 or aws:kms)")
    if _flag(refuse_backups_disabled) and not _flag(backups_enabled):
        refuse("backups_enabled", "allow_backups_disabled", "is false: production keeps PostgreSQL and Redis backups")
    return problems


def _items(values):
    if values is None:
        return []
    if not isinstance(values, dict):
        raise AnsibleFilterError("expects a mapping of inventory variable name to value, got %s" % type(values).__name__)
    return [(name, value) for name, value in values.items() if value is not None]


def kubeconfig_contexts(path):
    """``{'contexts': [names], 'current_context': str, 'error': str}`` of the kubeconfig at ``path``.

    Only names are returned: the file holds credentials. Never raises; ``error`` says why the file is not a
    kubeconfig (the collection's kubeconfig reader: a YAML error by its position, never a line of the file).
    """
    result = {"contexts": [], "current_context": "", "error": ""}
    try:
        result["contexts"], result["current_context"] = kubeconfig.contexts(os.path.expanduser(str(path)))
    except OSError as exc:
        result["error"] = "cannot be read (%s)" % (exc.strerror or type(exc).__name__)
    except ValueError as exc:
        result["error"] = "is %s" % exc
    return result


class FilterModule:
    """Inventory checks of the supertodo.platform preflight role."""

    def filters(self):
        return {
            "cron_problems": cron_problems,
            "redis_memory_problems": redis_memory_problems,
            "redis_maxmemory_warnings": redis_maxmemory_warnings,
            "image_repository_problems": image_repository_problems,
            "git_branch_problems": git_branch_problems,
            "count_problems": count_problems,
            "quantity_problems": quantity_problems,
            "weak_secrets": weak_secrets,
            "kubeconfig_contexts": kubeconfig_contexts,
        }
