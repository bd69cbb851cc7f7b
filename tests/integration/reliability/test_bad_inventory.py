# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad inventory input: playbooks/site.yml (production, apply mode) against the live local cluster fails with a
message naming the variable, and the cluster proves that nothing was applied: no Namespace created, the objects
of flux-system unchanged (generation, labels, annotations, spec and our field manager's entry: the Flux double
rewrites their status, so their resourceVersion moves on its own), and (checked once after the last case) no object anywhere written by
our field manager since the first case started.

Each case runs in its own, not yet existing namespace (``supertodo_namespace``), so that "no namespace created" is
checked exactly even when other tests converged ``production`` on the same cluster. Absorbs the production
refusal tests that ran without a cluster in tests/integration/environments/test_render_and_refusals.py.
"""

from __future__ import annotations

import datetime
import json
import uuid

import pytest

from rel_helpers import SECRETS, applied_state, playbook, record, snapshot_diff

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FIELD_MANAGER = "supertodo.platform"
RESOURCES = json.dumps({"requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1.5cores", "memory": "1Gi"}})

# id, what, ansible-playbook arguments, environment changes (None: unset), every expected substring of the message
CASES = [
    ("negative-replicas", "super_todo_replicas: -1", ["-e", "super_todo_replicas=-1"], {},
     ["super_todo_replicas must be a non-negative integer (got -1)", "nothing was applied"]),
    ("redis-replicas-negative", "redis_cluster_replicas: -1", ["-e", "redis_cluster_replicas=-1"], {},
     ["redis_cluster_replicas must be a non-negative integer (got -1)", "nothing was applied"]),
    ("hpa-min-above-max", "super_todo_hpa_min_replicas: 6 (max 5)", ["-e", "super_todo_hpa_min_replicas=6"], {},
     ["super_todo_hpa_min_replicas (6) is above super_todo_hpa_max_replicas (5)", "nothing was applied"]),
    ("hpa-zero-max", "super_todo_hpa_min_replicas/max_replicas: 0",
     ["-e", "super_todo_hpa_min_replicas=0", "-e", "super_todo_hpa_max_replicas=0"], {},
     ["[inventory variable super_todo_hpa_max_replicas]", "maxReplicas: 0 is less than the minimum of 1"]),
    ("network-policy-unknown", "namespace_network_policy: paranoid", ["-e", "namespace_network_policy=paranoid"], {},
     ["namespace_network_policy must be one of: basic, strict, got: paranoid"]),
    ("postgres-storage-50GB", "postgres_storage_size: 50GB", ["-e", "postgres_storage_size=50GB"], {},
     ['postgres_storage_size must be a Kubernetes quantity such as 50Gi or 512Mi (got "50GB")']),
    ("redis-storage-20gb", "redis_storage_size: 20gb", ["-e", "redis_storage_size=20gb"], {},
     ['redis_storage_size must be a Kubernetes quantity such as 50Gi or 512Mi (got "20gb")']),
    ("cpu-1.5cores", "super_todo_resources.limits.cpu: 1.5cores", ["-e", '{"super_todo_resources": %s}' % RESOURCES],
     {}, ["spec.values.resources.limits.cpu: '1.5cores' is not valid", "[inventory variable super_todo_resources]"]),
    ("backup-schedule-5-fields", "backups_schedule: '0 3 * * *'", ["-e", '{"backups_schedule": "0 3 * * *"}'], {},
     ["backups_schedule must have six fields", "(got '0 3 * * *')"]),
    ("backup-schedule-hour-25", "backups_schedule: '0 0 25 * * *'", ["-e", '{"backups_schedule": "0 0 25 * * *"}'], {},
     ["backups_schedule field 3 (hours) '25': 25 is outside 0-23 (got '0 0 25 * * *')", "nothing was applied"]),
    ("backup-schedule-step-0", "backups_schedule: '0 */0 3 * * *'", ["-e", '{"backups_schedule": "0 */0 3 * * *"}'], {},
     ["backups_schedule field 2 (minutes) '*/0': the step after '/' must be a positive whole number"]),
    ("backup-schedule-weekday-7", "backups_schedule: '0 0 3 * * 7'", ["-e", '{"backups_schedule": "0 0 3 * * 7"}'], {},
     ["backups_schedule field 6 (day of week) '7': 7 is outside 0-6"]),
    ("backups-unencrypted", "backups_encryption: '' in production", ["-e", '{"backups_encryption": ""}'], {},
     ["backups_encryption is empty: production encrypts its base backups and WAL", "allow_unencrypted_backups"]),
    ("redis-maxmemory-with-space", "redis_maxmemory: '1024 MB'", ["-e", '{"redis_maxmemory": "1024 MB"}'], {},
     ["redis_maxmemory must be a Redis memory size", "(got '1024 MB')", "nothing was applied"]),
    ("redis-maxmemory-policy-unknown", "redis_maxmemory_policy: lru-everything",
     ["-e", "redis_maxmemory_policy=lru-everything"], {},
     ["redis_maxmemory_policy must be empty (the Redis default, noeviction) or one of the Redis 7 eviction policies",
      '(got "lru-everything")']),
    ("image-repository-not-oci", "super_todo_image_repository: 'Andreqko/Super Todo'",
     ["-e", '{"super_todo_image_repository": "Andreqko/Super Todo"}'], {},
     ["super_todo_image_repository must be an OCI image repository", "(got 'Andreqko/Super Todo')"]),
    ("git-branch-with-space", "supertodo_git_branch: 'main branch'", ["-e", '{"supertodo_git_branch": "main branch"}'], {},
     ["supertodo_git_branch must be a Git branch name (git check-ref-format --branch): it contains ' '",
      "(got 'main branch')"]),
    ("s3-path-without-bucket", "backups_destination_path: s3:///postgres",
     ["-e", "backups_destination_path=s3:///postgres"], {},
     ["backups_destination_path must look like s3://bucket/path (got 's3:///postgres')"]),
    ("backups-without-credentials", "backups on, SUPERTODO_BACKUP_S3_* unset", [],
     {"SUPERTODO_BACKUP_S3_ACCESS_KEY_ID": None, "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY": None},
     ["secrets_backup_s3_access_key_id is empty", "secrets_backup_s3_secret_access_key is empty"]),
    ("seed-password", "secrets_redis_password: a seed of the current setup", [],
     {"SUPERTODO_REDIS_PASSWORD": "staging-dev-redis-123"},
     ["secrets_redis_password is a password written in plain text", "allow_seed_password"]),
    ("change-me-password", "secrets_postgres_app_password contains change-me", [],
     {"SUPERTODO_POSTGRES_APP_PASSWORD": "a-long-password-but-change-me-please"},
     ['secrets_postgres_app_password contains "change-me"', "allow_change_me_password"]),
    ("short-password", "secrets_postgres_superuser_password: 7 characters", [],
     {"SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": "Sh0rtPw"},
     ["secrets_postgres_superuser_password is shorter than 16", "allow_short_password"]),
    ("empty-password", "secrets_redis_password: empty", [], {"SUPERTODO_REDIS_PASSWORD": ""},
     ["secrets_redis_password is empty", "allow_empty_secret"]),
    ("image-tag-latest", "super_todo_image_tag: latest", ["-e", "super_todo_image_tag=latest"], {},
     ['super_todo_image_tag is "latest": production needs a release tag', "allow_latest_image_tag"]),
    ("backups-off", "backups_enabled: false in production", ["-e", "backups_enabled=false"], {},
     ["backups_enabled is false", "allow_backups_disabled"]),
    ("namespace-not-dns-label", "supertodo_namespace: Prod_1", ["-e", "supertodo_namespace=Prod_1"], {},
     ['supertodo_namespace must be a DNS label', '(got "Prod_1")']),
    ("git-url-scp-form", "supertodo_git_url: git@github.com:x/y.git", ["-e", "supertodo_git_url=git@github.com:x/y.git"],
     {}, ['supertodo_git_url must be an http://, https:// or ssh:// URL', '(got "git@github.com:x/y.git")']),
    ("unknown-environment", "supertodo_environment: qa", ["-e", "supertodo_environment=qa"], {},
     ["supertodo_environment must be one of: staging, production, got: qa"]),
    ("missing-kubeconfig", "supertodo_kubeconfig: a file that does not exist",
     ["-e", "supertodo_kubeconfig=/nonexistent/kubeconfig"], {},
     ["supertodo_kubeconfig: /nonexistent/kubeconfig does not exist", "nothing was applied"]),
    ("kubeconfig-not-a-kubeconfig", "supertodo_kubeconfig: a file that is not a kubeconfig (this test's source)",
     ["-e", "supertodo_kubeconfig=%s" % __file__], {},
     ["supertodo_kubeconfig: %s is not" % __file__, "nothing was applied"]),
    ("wrong-context", "supertodo_kube_context: no-such-context", ["-e", "supertodo_kube_context=no-such-context"], {},
     ['supertodo_kube_context: context "no-such-context" is not in', "contexts there:"]),
    ("ingress-host-with-scheme", "super_todo_ingress_host: https://app.example.com",
     ["-e", "super_todo_ingress_host=https://app.example.com"], {},
     ["spec.values.ingress.host: 'https://app.example.com' does not match", "[inventory variable super_todo_ingress_host]"]),
    ("log-level-unknown", "super_todo_log_level: VERBOSE", ["-e", "super_todo_log_level=VERBOSE"], {},
     ["super_todo_log_level must be one of: DEBUG, INFO, WARN, ERROR, got: VERBOSE"]),
    ("redis-nodes-not-multiple", "redis_cluster_nodes: 7 with 1 replica", ["-e", "redis_cluster_nodes=7"], {},
     ["redis_cluster_nodes (7) must be a multiple of redis_cluster_replicas + 1 (2)"]),
    ("postgres-zero-instances", "postgres_instances: 0", ["-e", "postgres_instances=0"], {},
     ["postgres_instances must be >= 1 (got 0)"]),
    ("unknown-override", "supertodo_overrides: [{name: allow_everything}]",
     ["-e", '{"supertodo_overrides": [{"name": "allow_everything", "reason": "x"}]}'], {},
     ["supertodo_overrides: each entry needs `name`", "allow_everything"]),
    ("override-without-reason", "supertodo_overrides: [{name: allow_latest_image_tag}] (no reason)",
     ["-e", '{"super_todo_image_tag": "latest", "supertodo_overrides": [{"name": "allow_latest_image_tag"}]}'], {},
     ["supertodo_overrides: each entry needs `name`", "and `reason`"]),
]


def _ours_since(kube, since):
    """Objects anywhere in the cluster whose fields our field manager wrote at or after ``since`` (UTC)."""
    kinds = kube.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io", "componentstatuses")]
    proc = kube.kubectl("get", ",".join(kinds), "-A", "-o", "json", "--show-managed-fields", timeout=180)
    assert proc.returncode == 0, proc.stderr
    found = []
    for item in json.loads(proc.stdout)["items"]:
        for entry in item["metadata"].get("managedFields") or []:
            when = entry.get("time")
            if entry.get("manager") == FIELD_MANAGER and when and when >= since:
                found.append("%s %s/%s" % (item["kind"], item["metadata"].get("namespace", ""),
                                           item["metadata"]["name"]))
    return found


@pytest.fixture(scope="module")
def started():
    """When the first case started (UTC, whole seconds), for the cluster-wide check after the last case."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("case_id,what,args,env_changes,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_variable_and_applies_nothing(kube, started, request, case_id, what, args,
                                                                 env_changes, expected):
    namespace = "rel-%s-%s" % (case_id[:40].rstrip("-.").replace(".", "-").lower(), uuid.uuid4().hex[:5])
    env = dict(SECRETS)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    namespaces_before = set(kube.kubectl("get", "namespaces", "-o", "name").stdout.split())
    flux_before = applied_state(kube.kubectl, ["flux-system"])

    run = playbook("production", "site.yml", "-e", "supertodo_namespace=%s" % namespace, *args,
                   kubeconfig=kube.kubeconfig, extra_env=env)

    assert run.rc != 0, run.tail()
    for text in expected:
        assert text in run.flat, "%r not in the output:\n%s" % (text, run.tail())
    assert "Traceback" not in run.flat
    assert "modulo by zero" not in run.flat
    assert "TASK [supertodo.platform.reconcile" not in run.stdout
    for value in env.values():
        if value:
            assert value not in run.stdout + run.stderr
    # nothing applied, as the live cluster tells
    assert kube.kubectl("get", "namespace", namespace).returncode != 0, "namespace %s was created" % namespace
    assert not set(kube.kubectl("get", "namespaces", "-o", "name").stdout.split()) - namespaces_before
    assert snapshot_diff(flux_before, applied_state(kube.kubectl, ["flux-system"])) == {
        "created": [], "deleted": [], "changed": []}
    record(request, what, "fails before anything is applied, naming the variable", run.fatal(), run.seconds)


def test_redis_maxmemory_at_the_memory_limit_warns_in_the_run_and_in_the_report(kube, started, request, tmp_path):
    """``redis_maxmemory: 1gb`` in a 1Gi container is valid Redis input, so it is not refused, but the run warns
    before anything is applied (here the run then stops at a refusal, ``latest``, so that nothing is applied), and the
    environment report (verify.yml, which only reads) carries the warning too."""
    namespace = "rel-maxmemory-warning-%s" % uuid.uuid4().hex[:5]
    warning = ("redis_maxmemory 1gb (1073741824 bytes) is not below redis_resources.limits.memory 1Gi "
               "(1073741824 bytes): no headroom")
    figures = ["-e", "supertodo_namespace=%s" % namespace, "-e", "redis_maxmemory=1gb"]
    run = playbook("production", "site.yml", *figures, "-e", "super_todo_image_tag=latest",
                   kubeconfig=kube.kubeconfig, extra_env=dict(SECRETS))
    assert run.rc != 0, run.tail()
    assert "[WARNING] production: " + warning in run.flat, run.tail()
    assert 'super_todo_image_tag is "latest"' in run.flat, run.tail()
    assert run.flat.index("[WARNING] production: " + warning) < run.flat.index('super_todo_image_tag is "latest"')

    report_dir = tmp_path / "report"
    verify = playbook("production", "verify.yml", *figures, "-e", "verify_fail_when_not_ready=false",
                      kubeconfig=kube.kubeconfig, extra_env=dict(SECRETS), report_dir=report_dir)
    assert verify.rc == 0, verify.tail()
    assert "[WARNING] production: warning: " + warning in verify.flat, verify.tail()
    report = json.loads((report_dir / "production.json").read_text())
    assert [w for w in report["warnings"] if w.startswith(warning)], report["warnings"]
    assert "## Warnings" in (report_dir / "production.md").read_text()
    assert kube.kubectl("get", "namespace", namespace).returncode != 0, "namespace %s was created" % namespace
    record(request, "redis_maxmemory: 1gb with a 1Gi memory limit", "a warning in the run (before anything is applied) "
           "and in the verify report", warning, run.seconds + verify.seconds)


def test_no_case_wrote_anything_anywhere_in_the_cluster(kube, started):
    """After the cases (this test runs last in the module): no object in any namespace has fields that our field
    manager wrote since the first case started."""
    assert _ours_since(kube, started) == []
