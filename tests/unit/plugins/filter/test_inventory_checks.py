# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight role's inventory checks (plugins/filter/inventory_checks.py).

Git branch names are also checked against the real ``git check-ref-format --branch``; the live-cluster cases
(nothing applied, the message of the run) are in tests/integration/reliability/test_bad_inventory.py.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "inventory_checks.py"
_spec = importlib.util.spec_from_file_location("inventory_checks", PLUGIN)
ic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ic)


# -- cron -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", [
    "0 0 3 * * *", "0 0 0 * * *", "59 59 23 31 12 6", "0 */15 * * * *", "0 0 1-5/2 * * *", "0 0 3 ? * ?",
    "0 0 3 * jan-DEC sun,sat", "0 0 3 1,15 * *", "0 5/10 * * * *", "*/1 * * * * *", " 0  0 3 * * * ",
    "0 0 3 * * mon-fri",
])
def test_six_field_schedules_cloudnativepg_reads(schedule):
    assert ic.cron_problems({"backups_schedule": schedule}) == []


@pytest.mark.parametrize("schedule,expected", [
    ("0 0 25 * * *", "backups_schedule field 3 (hours) '25': 25 is outside 0-23 (got '0 0 25 * * *')"),
    ("60 0 3 * * *", "field 1 (seconds) '60': 60 is outside 0-59"),
    ("0 60 3 * * *", "field 2 (minutes) '60': 60 is outside 0-59"),
    ("0 0 3 0 * *", "field 4 (day of month) '0': 0 is outside 1-31"),
    ("0 0 3 32 * *", "field 4 (day of month) '32': 32 is outside 1-31"),
    ("0 0 3 * 13 *", "field 5 (month) '13': 13 is outside 1-12"),
    ("0 0 3 * 0 *", "field 5 (month) '0': 0 is outside 1-12"),
    ("0 0 3 * * 7", "field 6 (day of week) '7': 7 is outside 0-6"),
    ("0 0 3 * * funday", "field 6 (day of week) 'funday': 'funday' is not a number or a name"),
    ("0 0 */0 * * *", "field 3 (hours) '*/0': the step after '/' must be a positive whole number"),
    ("0 0 1-5/0 * * *", "field 3 (hours) '1-5/0': the step after '/' must be a positive whole number"),
    ("0 0 */x * * *", "field 3 (hours) '*/x': the step after '/' must be a positive whole number"),
    ("0 0 5-1 * * *", "field 3 (hours) '5-1': the range starts after it ends"),
    ("0 0 1-2-3 * * *", "field 3 (hours) '1-2-3': more than one '-'"),
    ("0 0 */2/3 * * *", "field 3 (hours) '*/2/3': more than one '/'"),
    ("0 0 1,,3 * * *", "field 3 (hours) '': an empty list item"),
    ("0 0 -1 * * *", "field 3 (hours) '-1': '' is not a number"),
    ("0 0 3,24 * * *", "field 3 (hours) '24': 24 is outside 0-23"),
    ("0 0 3 L * *", "field 4 (day of month) 'L': 'L' is not a number"),
    ("0 3 * * *", "backups_schedule must have six fields (seconds minutes hours day-of-month month day-of-week)"),
    ("@daily", "backups_schedule must have six fields"),
])
def test_six_field_schedules_refused_per_field(schedule, expected):
    problems = ic.cron_problems({"backups_schedule": schedule})
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("backups_schedule ")


def test_every_field_is_reported_once():
    problems = ic.cron_problems({"backups_schedule": "60 60 24 * * *"})
    assert [p.split(" '")[0] for p in problems] == [
        "backups_schedule field 1 (seconds)", "backups_schedule field 2 (minutes)", "backups_schedule field 3 (hours)"]


@pytest.mark.parametrize("schedule,ok", [
    ("30 3 * * *", True), ("@daily", True), ("*/5 * * * 1-5", True), ("0 0 3 * * *", False),
    ("30 24 * * *", False), ("61 3 * * *", False),
])
def test_five_field_kubernetes_cronjob_schedules(schedule, ok):
    assert (ic.cron_problems({"backups_redis_snapshot_schedule": schedule}, seconds=False) == []) is ok


def test_unset_variables_are_skipped_and_a_non_mapping_is_an_error():
    assert ic.cron_problems({"backups_schedule": None}) == []
    with pytest.raises(Exception, match="mapping of inventory variable name to value"):
        ic.cron_problems("0 0 3 * * *")


# -- Redis memory -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,size", [
    ("1024mb", 1024 ** 3), ("1gb", 1024 ** 3), ("1GB", 1024 ** 3), ("100k", 100000), ("100kb", 102400),
    ("5m", 5000000), ("2g", 2000000000), ("1073741824", 1073741824), (1073741824, 1073741824), ("0", 0),
    ("768MB", 768 * 1024 ** 2), ("12b", 12),
])
def test_redis_memory_sizes_in_redis_units(value, size):
    assert ic.redis_memory_bytes(value) == size
    assert ic.redis_memory_problems({"redis_maxmemory": value}) == []


@pytest.mark.parametrize("value", ["1024 MB", "1024MiB", "1Gi", "1.5gb", "-1", -1, "mb", "1 gb", "1tb", "lots", True])
def test_redis_memory_sizes_redis_refuses(value):
    problems = ic.redis_memory_problems({"redis_maxmemory": value})
    assert len(problems) == 1
    assert problems[0].startswith("redis_maxmemory must be a Redis memory size")
    assert "(got %r)" % str(value) in problems[0]


def test_an_empty_maxmemory_means_unset():
    assert ic.redis_memory_problems({"redis_maxmemory": ""}) == []


@pytest.mark.parametrize("maxmemory,limit,warns", [
    ("1024mb", "1Gi", True), ("1gb", "1Gi", True), ("2gb", "1Gi", True), ("1073741824", "1Gi", True),
    ("0", "1Gi", True), ("768mb", "1Gi", False), ("1023mb", "1Gi", False), ("1g", "1Gi", False),
    ("1024mb", "1536Mi", False), ("200mb", "256Mi", False), ("256mb", "256Mi", True), ("1gb", "1G", True),
    ("", "1Gi", False), ("1024mb", None, False), ("1024 MB", "1Gi", False), ("1024mb", "1GB", False),
])
def test_maxmemory_not_below_the_memory_limit_warns(maxmemory, limit, warns):
    warnings = ic.redis_maxmemory_warnings(maxmemory, limit)
    assert bool(warnings) is warns, warnings
    if warns:
        assert warnings[0].startswith("redis_maxmemory ")
        assert "redis_resources.limits.memory %s" % limit in warnings[0]
        assert "OOM-killed" in warnings[0]


def test_the_production_figures_of_the_current_setup_have_no_headroom():
    warning = ic.redis_maxmemory_warnings("1024mb", "1Gi")[0]
    assert "1024mb (1073741824 bytes) is not below redis_resources.limits.memory 1Gi (1073741824 bytes)" in warning
    assert "768mb for 1Gi" in warning


REDIS_SERVER = shutil.which("redis-server")
PREFLIGHT_VARS = Path(__file__).resolve().parents[4] / "roles" / "preflight" / "vars" / "main.yml"


def _redis_reads(tmp_path, *lines):
    """What redis-server (Redis 7) says of a redis.conf with these lines: None when it accepts the file, else its
    error. ``port 0`` with no socket makes it exit right after reading the file, so no server is left running."""
    conf = tmp_path / "redis.conf"
    conf.write_text("\n".join(["port 0", "save \"\"", "appendonly no", "dir %s" % tmp_path] + list(lines)) + "\n")
    proc = subprocess.run([REDIS_SERVER, str(conf)], capture_output=True, text=True, timeout=30, check=False)
    out = proc.stdout + proc.stderr
    if "FATAL CONFIG FILE ERROR" in out:
        return out
    assert "not listen anywhere" in out, out
    return None


# "mb" (no digits) is left out: Redis reads it as 0, the filter refuses it as a mistake
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
@pytest.mark.parametrize("value", ["1024mb", "1gb", "100k", "1073741824", "0", "768MB", "12b", "1024 MB", "1Gi",
                                   "1.5gb", "-1", "1 gb", "1tb", "lots", "1024MiB"])
def test_redis_memory_sizes_agree_with_redis_server(value, tmp_path):
    refused = _redis_reads(tmp_path, "maxmemory %s" % value)
    assert (refused is None) is (ic.redis_memory_problems({"redis_maxmemory": value}) == []), refused


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_the_eviction_policies_preflight_accepts_are_those_of_redis_server(tmp_path):
    import yaml

    policies = yaml.safe_load(PREFLIGHT_VARS.read_text())["__preflight_redis_maxmemory_policies"]
    assert len(policies) == 8
    for policy in policies:
        assert _redis_reads(tmp_path, "maxmemory-policy %s" % policy) is None, policy
    refused = _redis_reads(tmp_path, "maxmemory-policy lru-everything")
    assert "argument(s) must be one of the following: " in refused
    listed = refused.split("must be one of the following: ")[1].splitlines()[0]
    assert sorted(p.strip() for p in listed.split(",")) == sorted(policies)


# -- image repositories -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("repository", [
    "andreqko/super-todo", "super-todo", "docker.io/andreqko/super-todo", "ghcr.io/org/team/app",
    "localhost:5000/app", "localhost/app", "registry.example.com:5000/a_b/c__d/e.f/g-h", "Registry.Example.com/app",
    "[::1]:5000/app", "a/b---c", "bitnamilegacy/redis-cluster",
])
def test_oci_repositories_accepted(repository):
    assert ic.image_repository_problems({"super_todo_image_repository": repository}) == []


@pytest.mark.parametrize("repository", [
    "Andreqko/Super Todo", "Andreqko/super-todo", "andreqko/Super-todo", "andreqko/super todo", "", "/app",
    "app/", "a//b", "a/-b", "a/b-", "a/b_", "a/b...c", "a/b___c", "https://ghcr.io/a/b", "a" * 256,
])
def test_oci_repositories_refused(repository):
    problems = ic.image_repository_problems({"super_todo_image_repository": repository})
    assert len(problems) == 1
    assert problems[0].startswith("super_todo_image_repository must be an OCI image repository")
    assert problems[0].endswith("(got %r)" % repository)


@pytest.mark.parametrize("repository", ["andreqko/super-todo:v1.0.0", "ghcr.io/a/b@sha256:" + "0" * 64,
                                        "localhost:5000/app:latest"])
def test_a_tag_or_digest_is_named_as_such(repository):
    problems = ic.image_repository_problems({"super_todo_image_repository": repository})
    assert len(problems) == 1 and "without a tag or digest" in problems[0], problems


# -- Git branches -----------------------------------------------------------------------------------------------------

BRANCHES = [
    "main", "release/1.2", "feature/x-y_z", "v1.0.0", "a.b", "a@b", "ä", "main branch", "main\tx", "a..b", "a~1",
    "a^", "a:b", "a?", "a*", "a[b", "a\\b", "-x", "/a", "a/", "a//b", "a.", ".a", "a/.b", "a.lock", "a/b.lock/c",
    "a@{1}", "", "x\x7f", "a/.lock", "a.lock.b", "refs/heads/x", "HEADS", "@x", "x@",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", BRANCHES)
def test_git_branch_rules_agree_with_git_check_ref_format(name, tmp_path):
    git = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, text=True,
                         cwd=tmp_path, check=False)
    ours = ic.git_branch_problems({"supertodo_git_branch": name})
    assert (git.returncode == 0) is (ours == []), (name, git.stderr, ours)


@pytest.mark.parametrize("name,why", [
    ("main branch", "it contains ' '"), ("a..b", "contains '..'"), ("x.lock", "ending with '.lock'"),
    ("-x", "starts with '-'"), ("a/", "empty component"),
    # refused although git 2.39 prints them outside a repository: inside one it reads "@" as HEAD, and newer
    # git refuses HEAD as a branch name
    ("HEAD", "is HEAD"), ("@", "is '@'"),
])
def test_git_branch_messages_name_the_variable_and_the_rule(name, why):
    problems = ic.git_branch_problems({"supertodo_git_branch": name})
    assert len(problems) == 1
    assert problems[0].startswith("supertodo_git_branch must be a Git branch name (git check-ref-format --branch)")
    assert why in problems[0] and problems[0].endswith("(got %r)" % name)


# -- counts -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1, 6, "0", "3", " 2 ", "+2"])
def test_counts_accepted(value):
    assert ic.count_problems({"redis_cluster_replicas": value}) == []


@pytest.mark.parametrize("value", [-1, "-1", "1.5", 1.5, "two", "", True, [1]])
def test_counts_refused_naming_the_variable(value):
    assert ic.count_problems({"redis_cluster_replicas": value}) == [
        "redis_cluster_replicas must be a non-negative integer (got %s)" % value]


def test_counts_with_a_minimum():
    assert ic.count_problems({"postgres_instances": "0"}, minimum=1) == [
        "postgres_instances must be a whole number of at least 1 (got 0)"]
    assert ic.count_problems({"postgres_instances": 1}, minimum=1) == []


def test_the_filters_are_exported():
    assert set(ic.FilterModule().filters()) == {
        "cron_problems", "redis_memory_problems", "redis_maxmemory_warnings", "image_repository_problems",
        "git_branch_problems", "count_problems", "weak_secrets", "quantity_problems", "kubeconfig_contexts"}


# -- Kubernetes quantities --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["50Gi", "512Mi", "1", "+1.5", ".5", "1.", "100m", "2k", "1e3", "1E-2", 3, 0.5])
def test_kubernetes_quantities_accepted(value):
    assert ic.quantity_problems({"postgres_storage_size": value}) == []


@pytest.mark.parametrize("value,shown", [("50GB", '"50GB"'), ("20gb", '"20gb"'), ("1.5cores", '"1.5cores"'),
                                         ("", '""'), ("-1Gi", '"-1Gi"'), ("1 Gi", '"1 Gi"'), (True, '"True"')])
def test_kubernetes_quantities_refused_naming_the_variable(value, shown):
    assert ic.quantity_problems({"redis_storage_size": value, "postgres_storage_size": None}) == [
        "redis_storage_size must be a Kubernetes quantity such as 50Gi or 512Mi (got %s)" % shown]


# -- weak secrets and the other production refusals -------------------------------------------------------------------

STRONG = {"secrets_postgres_superuser_password": "Vx9-strong-superuser-pw", "secrets_redis_password": "Qk2-strong-redis-pw"}
SEEDS = ["staging-dev-password-123", "staging-dev-redis-123", "production-secure-password-change-me-789",
         "production-secure-redis-password-change-me"]
PRODUCTION = {"seed_passwords": SEEDS, "refused_substrings": ["change-me"], "min_length": 16,
              "refuse_latest_tag": True, "image_tag": "v1.0.0", "backups_enabled": True, "backups_encryption": "AES256",
              "refuse_unencrypted_backups": True, "refuse_backups_disabled": True}


def _weak(values, **changes):
    return ic.weak_secrets(values, **dict(PRODUCTION, **changes))


def test_strong_secrets_a_release_tag_and_encrypted_backups_are_not_refused():
    assert _weak(STRONG) == []
    assert _weak({}) == []


def test_each_weak_secret_is_named_with_its_override_in_order():
    values = {"secrets_postgres_superuser_password": "Sh0rtPw",
              "secrets_postgres_app_password": "production-secure-password-change-me-789",
              "secrets_redis_password": "",
              "secrets_backup_s3_access_key_id": "A-CHANGE-ME-key",
              "secrets_backup_s3_secret_access_key": None}
    assert _weak(values) == [
        {"variable": "secrets_postgres_superuser_password", "override": "allow_short_password",
         "reason": "is shorter than 16 characters"},
        {"variable": "secrets_postgres_app_password", "override": "allow_seed_password",
         "reason": "is a password written in plain text in the current setup"},
        {"variable": "secrets_postgres_app_password", "override": "allow_change_me_password",
         "reason": 'contains "change-me"'},
        {"variable": "secrets_redis_password", "override": "allow_empty_secret",
         "reason": "is empty (set it in an ansible-vault file or SUPERTODO_REDIS_PASSWORD)"},
        {"variable": "secrets_backup_s3_access_key_id", "override": "allow_change_me_password",
         "reason": 'contains "change-me"'},
        {"variable": "secrets_backup_s3_access_key_id", "override": "allow_short_password",
         "reason": "is shorter than 16 characters"},
        {"variable": "secrets_backup_s3_secret_access_key", "override": "allow_empty_secret",
         "reason": "is empty (set it in an ansible-vault file or SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY)"},
    ]


def test_every_refused_substring_and_the_length_as_configured():
    problems = _weak({"secrets_redis_password": "todo-change-me-xx"}, refused_substrings=["change-me", "todo"],
                     min_length="20")
    assert [(p["override"], p["reason"]) for p in problems] == [
        ("allow_change_me_password", 'contains "change-me"'), ("allow_change_me_password", 'contains "todo"'),
        ("allow_short_password", "is shorter than 20 characters")]


@pytest.mark.parametrize("tag,refused", [("latest", True), ("LATEST", True), ("", True), ("v1.0.0", False),
                                         ("latest-1", False), (None, False)])
def test_the_image_tag_latest_or_empty_is_refused(tag, refused):
    expected = [{"variable": "super_todo_image_tag", "override": "allow_latest_image_tag",
                 "reason": "is %s: production needs a release tag" % json.dumps(tag)}] if refused else []
    assert _weak(STRONG, image_tag=tag) == expected
    assert _weak(STRONG, image_tag=tag, refuse_latest_tag=False) == []


def test_backups_off_or_unencrypted_are_refused_after_the_secrets_and_the_tag():
    problems = _weak({"secrets_redis_password": ""}, image_tag="latest", backups_encryption="")
    assert [p["override"] for p in problems] == ["allow_empty_secret", "allow_latest_image_tag",
                                                 "allow_unencrypted_backups"]
    assert problems[-1] == {"variable": "backups_encryption", "override": "allow_unencrypted_backups", "reason":
                            "is empty: production encrypts its base backups and WAL on the object store "
                            "(AES256 or aws:kms)"}
    assert _weak(STRONG, backups_enabled="false", backups_encryption="") == [
        {"variable": "backups_enabled", "override": "allow_backups_disabled",
         "reason": "is false: production keeps PostgreSQL and Redis backups"}]
    assert _weak(STRONG, backups_enabled=False, refuse_backups_disabled="no") == []
    assert _weak(STRONG, backups_encryption="", refuse_unencrypted_backups=False) == []


def test_no_secret_value_in_the_result_or_an_error():
    values = {"secrets_postgres_superuser_password": "Sh0rt-s3cr3t",
              "secrets_postgres_app_password": "staging-dev-password-123",
              "secrets_redis_password": "Yz-change-me-Yz-long-enough"}
    found = json.dumps(_weak(values))
    assert not [v for v in values.values() if v in found]
    for bad in ({"secrets_redis_password": "Sh0rt-s3cr3t"}, "Sh0rt-s3cr3t", ["Sh0rt-s3cr3t"]):
        for changes in ({"min_length": "Sh0rt-s3cr3t"}, {"seed_passwords": "Sh0rt-s3cr3t"}, {}):
            try:
                _weak(bad, **changes)
            except ic.AnsibleFilterError as error:
                assert "Sh0rt-s3cr3t" not in str(error)


# -- kubeconfig_contexts ----------------------------------------------------------------------------------------------

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: prod
contexts:
  - name: prod
    context: {cluster: c, user: u}
  - name: other
    context: {cluster: c, user: u}
users:
  - name: u
    user: {token: s3cr3t-token-value}
"""


def test_kubeconfig_contexts_names_only(tmp_path):
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    got = ic.kubeconfig_contexts(str(path))
    assert got == {"contexts": ["prod", "other"], "current_context": "prod", "error": ""}
    assert "s3cr3t" not in json.dumps(got)


@pytest.mark.parametrize("content,error", [
    # a tab cannot start a token: PyYAML's own message quotes the line, the filter only says where
    ("users:\n\t- token: s3cr3t-token-value\n", "is not valid YAML at line 2, column 1"),
    ("token: [s3cr3t-token-value\n", "is not valid YAML at line 2"),
    ("s3cr3t-token-value\n", "is not a kubeconfig (a str, not a mapping)"),
    ("contexts: s3cr3t-token-value\n", "is not a kubeconfig (contexts is not a list of mappings)"),
])
def test_kubeconfig_contexts_error_never_quotes_the_file(tmp_path, content, error):
    path = tmp_path / "config"
    path.write_text(content)
    got = ic.kubeconfig_contexts(str(path))
    assert got["contexts"] == [] and got["error"].startswith(error), got
    assert "s3cr3t" not in json.dumps(got)


def test_kubeconfig_contexts_unreadable_and_empty(tmp_path):
    assert ic.kubeconfig_contexts(str(tmp_path / "absent"))["error"].startswith("cannot be read")
    empty = tmp_path / "empty"
    empty.write_text("")
    assert ic.kubeconfig_contexts(str(empty)) == {"contexts": [], "current_context": "", "error": ""}
