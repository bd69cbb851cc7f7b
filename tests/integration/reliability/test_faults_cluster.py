# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults during a converge of production, on a PRIVATE local cluster (its own state dir, started here), so that
stopping its kube-apiserver disturbs no other test:

- the kube-apiserver stopped while the apply step runs: a clear failure, no traceback; once it is back a re-run
  completes and verify.yml (drift is a failure) passes;
- a HelmRelease that fails or hangs (Flux double annotations): reconcile reports the object's own message within
  its timeout, and verify.yml shows it;
- check mode writes nothing: the resourceVersion of every object in the cluster is unchanged;
- secrets: converge, render and verify at -vvv with --diff and a log file print no secret value;
- an override of a production refusal is a warning of the run and appears in the verify report.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from rel_helpers import (OLD_CLUSTER, SECRETS, SEEDS, ansible_env, playbook, record, run_streamed, snapshot,
                         snapshot_diff)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

APPLY_TASK = "TASK [supertodo.platform.delivery : Delivery | Validate and server-side apply"
HR = "helmreleases.helm.toolkit.fluxcd.io"
RECONCILE_TASK = "TASK [supertodo.platform.reconcile : Reconcile | Reconcile every HelmRelease"


def _converge(private, *args, extra_env=None, report_dir=None, name="site.yml", env_name="production"):
    env = dict(SECRETS)
    env.update(extra_env or {})
    return playbook(env_name, name, *args, kubeconfig=private.kubeconfig, extra_env=env, report_dir=report_dir)


def _ok(run):
    assert run.rc == 0, run.tail()
    return run


@pytest.fixture(scope="module")
def production(private_cluster):
    """Production converged on the private cluster (a no-op when a drill already converged it)."""
    _ok(_converge(private_cluster))
    return private_cluster


def _hr(private, name):
    proc = private.kubectl("-n", "production", "get", HR, name, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- the API server stopped in the middle of a converge --------------------------------------------------------

def test_api_server_stopped_during_apply_fails_clearly_and_a_rerun_completes(private_cluster, request, tmp_path):
    private = private_cluster
    private.cluster.start_component("kube-apiserver")  # a failed earlier drill may have left it stopped
    env = ansible_env(private.kubeconfig, dict(SECRETS), report_dir=tmp_path / "report")
    env["PYTHONUNBUFFERED"] = "1"
    argv = ["ansible-playbook", "-i", "inventories/production", "playbooks/site.yml", *OLD_CLUSTER]
    stopped = {}

    def stop_at_apply(line):
        if APPLY_TASK in line and not stopped:
            private.cluster.stop_component("kube-apiserver", grace=0)
            stopped["at"] = time.monotonic()

    try:
        run = run_streamed(argv, env, on_line=stop_at_apply)
    finally:
        private.cluster.start_component("kube-apiserver")
    assert stopped, "the apply step never started:\n" + run.tail()
    assert run.rc != 0, run.tail()
    assert "TASK [supertodo.platform.reconcile" not in run.stdout
    assert "Traceback" not in run.flat
    assert "API server https://127.0.0.1:%d unreachable" % private.cluster.ports["kube-apiserver"] in run.flat, run.tail()
    # the object being read or applied when the server went away is named, with the cause
    assert re.search(r"\w+ [\w/.-]+: (server-side apply failed|cannot read it before applying)", run.flat) \
        or re.search(r"\w+ objects in [\w.-]+ \([\w, .-]+\): cannot read them before applying", run.flat) \
        or "not served" in run.flat, run.tail()
    for value in SECRETS.values():
        assert value not in run.stdout + run.stderr
    record(request, "kube-apiserver stopped (SIGKILL) when the apply step starts",
           "the converge fails naming the API server and the object; no traceback", run.fatal(),
           run.seconds_from(APPLY_TASK))

    # back up: a re-run completes and the cluster matches the inventory
    rerun = _ok(_converge(private, report_dir=tmp_path / "report"))
    verify = _ok(_converge(private, "-e", "verify_fail_on_drift=true", name="verify.yml",
                           report_dir=tmp_path / "report"))
    report = json.loads((tmp_path / "report" / "production.json").read_text())
    assert report["ready"] is True and report["drift"] == []
    assert {o["object"] for o in report["objects"]} >= {"HelmRelease super-todo", "HelmRelease postgres-production",
                                                        "HelmRelease redis-production"}
    record(request, "re-run after the kube-apiserver is back",
           "completes; verify.yml -e verify_fail_on_drift=true passes",
           "converge ok (changed=%d), verify: Ready, drift: none" % rerun.recap("changed"),
           rerun.seconds + verify.seconds)


# -- a HelmRelease that fails or hangs -------------------------------------------------------------------------

FAIL_MESSAGE = "drill: pre-upgrade hook job super-todo-migrate failed: BackoffLimitExceeded"


def test_a_failing_helmrelease_is_reported_with_its_message_and_verify_shows_it(production, request, tmp_path):
    private = production
    assert private.kubectl("-n", "production", "annotate", HR, "super-todo", "--overwrite",
                           "test.supertodo.io/fail=%s" % FAIL_MESSAGE).returncode == 0
    try:
        run = _converge(private, "-e", "reconcile_name=super-todo", "-e", "reconcile_timeout=120",
                        "-e", "reconcile_with_source=false", name="reconcile.yml")
        assert run.rc != 0, run.tail()
        assert "HelmRelease production/super-todo" in run.flat and FAIL_MESSAGE in run.flat, run.tail()
        assert "Traceback" not in run.flat
        assert run.seconds < 120, "the failure was not reported before the timeout"
        record(request, "HelmRelease super-todo fails (Flux double test.supertodo.io/fail)",
               "reconcile.yml fails with the object's message before its timeout (120s)", run.fatal(), run.seconds)

        verify = _converge(private, name="verify.yml", report_dir=tmp_path)
        assert verify.rc != 0
        assert "production (namespace production) is not Ready" in verify.flat
        assert FAIL_MESSAGE in verify.flat
        markdown = (tmp_path / "production.md").read_text()
        row = [ln for ln in markdown.splitlines() if ln.startswith("| HelmRelease super-todo |")]
        assert row and "**no**" in row[0] and FAIL_MESSAGE in row[0], markdown
        report = json.loads((tmp_path / "production.json").read_text())
        assert report["ready"] is False and any(FAIL_MESSAGE in p for p in report["problems"])
        record(request, "verify.yml after the failed HelmRelease", "not Ready, the report shows the message",
               verify.fatal(), verify.seconds)
    finally:
        private.kubectl("-n", "production", "annotate", HR, "super-todo", "test.supertodo.io/fail-")
    _ok(_converge(private, "-e", "reconcile_name=super-todo", "-e", "reconcile_with_source=false",
                  name="reconcile.yml"))
    assert _converge(private, name="verify.yml", report_dir=tmp_path).rc == 0


def test_a_hanging_helmrelease_times_out_naming_what_it_last_reported_and_verify_shows_it(production, request,
                                                                                          tmp_path):
    private = production
    assert private.kubectl("-n", "production", "annotate", HR, "super-todo", "--overwrite",
                           "test.supertodo.io/hang=true").returncode == 0
    generation = _hr(private, "super-todo")["metadata"]["generation"]
    try:
        # an inventory change the controller never acts on: the converge waits reconcile_timeout, then fails
        run = _converge(private, "-e", "super_todo_log_level=INFO", "-e", "reconcile_timeout=30")
        assert run.rc != 0, run.tail()
        assert "HelmRelease production/super-todo not ready after 30s" in run.flat, run.tail()
        assert "last reported:" in run.flat
        assert "Traceback" not in run.flat
        waited = run.seconds_from(RECONCILE_TASK)
        assert 30 <= waited < 120, waited
        assert _hr(private, "super-todo")["metadata"]["generation"] > generation
        record(request, "HelmRelease super-todo hangs (test.supertodo.io/hang) after an inventory change",
               "the converge fails after reconcile_timeout (30s) naming the object and what it last reported",
               run.fatal(), waited)

        verify = _converge(private, "-e", "super_todo_log_level=INFO", name="verify.yml", report_dir=tmp_path)
        assert verify.rc != 0
        assert "HelmRelease super-todo not ready" in verify.flat, verify.tail()
        assert "status is for generation %d, spec is generation %d" % (generation, generation + 1) in verify.flat
        report = json.loads((tmp_path / "production.json").read_text())
        assert report["ready"] is False
        record(request, "verify.yml while the HelmRelease hangs", "not Ready: Ready is for an older generation",
               verify.fatal(), verify.seconds)
    finally:
        private.kubectl("-n", "production", "annotate", HR, "super-todo", "test.supertodo.io/hang-")
    _ok(_converge(private))
    assert _hr(private, "super-todo")["spec"]["values"]["app"]["logLevel"] == "WARN"


# -- check mode writes nothing ---------------------------------------------------------------------------------

def test_check_mode_with_a_diff_writes_nothing(production, request):
    private = production
    before = snapshot(private.kubectl)
    run = _ok(_converge(private, "--check", "--diff", "-e", "super_todo_log_level=INFO", "-e",
                        "super_todo_hpa_max_replicas=6", "-e", '{"namespace_resource_quota_hard": '
                        '{"requests.cpu": "12", "requests.memory": "20Gi"}}'))
    assert run.recap("changed") >= 1
    assert "logLevel: INFO" in run.stdout and "maxReplicas: 6" in run.stdout
    after = snapshot(private.kubectl)
    assert snapshot_diff(before, after) == {"created": [], "deleted": [], "changed": []}
    assert _hr(private, "super-todo")["spec"]["values"]["app"]["logLevel"] == "WARN"
    record(request, "site.yml --check --diff with three inventory changes",
           "diff shown, resourceVersion of every object unchanged",
           "changed=%d in the recap; %d objects compared, 0 created, 0 deleted, 0 changed"
           % (run.recap("changed"), len(before)), run.seconds)


# -- secrets at -vvv with --diff -------------------------------------------------------------------------------

def _b64(value):
    return base64.b64encode(value.encode()).decode()


def test_no_secret_value_in_any_output_log_or_file(production, request, tmp_path):
    private = production
    rotated = dict(SECRETS, SUPERTODO_REDIS_PASSWORD="Rt" + SECRETS["SUPERTODO_REDIS_PASSWORD"][::-1][:30])
    log = tmp_path / "ansible.log"
    tree = tmp_path / "flux-cd"
    runs = {
        # the rotation makes the Secret part of the diff, in check mode and for real
        "converge --check --diff (rotated Redis password)": _converge(
            private, "-vvv", "--check", "--diff", extra_env=dict(rotated, ANSIBLE_LOG_PATH=str(log))),
        "converge --diff (rotated Redis password)": _converge(
            private, "-vvv", "--diff", extra_env=dict(rotated, ANSIBLE_LOG_PATH=str(log)), report_dir=tmp_path),
        "render --diff": _converge(private, "-vvv", "--diff", "-e", "supertodo_render_dir=%s" % tree,
                                   name="render.yml", extra_env=dict(rotated, ANSIBLE_LOG_PATH=str(log))),
        "verify --diff": _converge(private, "-vvv", "--diff", name="verify.yml", report_dir=tmp_path,
                                   extra_env=dict(rotated, ANSIBLE_LOG_PATH=str(log))),
    }
    try:
        for label, run in runs.items():
            assert run.rc == 0, label + "\n" + run.tail()
        secret = json.loads(private.kubectl("-n", "production", "get", "secret", "redis-production-auth",
                                            "-o", "json").stdout)
        assert base64.b64decode(secret["data"]["redis-password"]).decode() == rotated["SUPERTODO_REDIS_PASSWORD"]
        assert "redis-production-auth" in runs["converge --diff (rotated Redis password)"].stdout
        blobs = {label: run.stdout + run.stderr for label, run in runs.items()}
        blobs["log file"] = log.read_text(errors="replace")
        assert len(blobs["log file"]) > 10000
        files = [p for p in list(tree.rglob("*")) + list(tmp_path.glob("production.*")) if p.is_file()]
        assert len(files) > 20
        for path in files:
            blobs[str(path.relative_to(tmp_path))] = path.read_text(errors="replace")
        values = set(SECRETS.values()) | set(rotated.values())
        leaks = ["%s in %s" % (form, where) for value in values for form in (value, _b64(value))
                 for where, blob in blobs.items() if form in blob]
        leaks += ["seed %s in %s" % (seed, where) for seed in SEEDS for where, blob in blobs.items() if seed in blob]
        assert leaks == []
        size = sum(len(b) for b in blobs.values())
        record(request, "secrets: converge (check and real, with a rotated password), render, verify at -vvv --diff "
               "with ANSIBLE_LOG_PATH", "no secret value (plain or base64) anywhere",
               "%d values x 2 forms searched in %d bytes of stdout, stderr, log and %d files: 0 found"
               % (len(values), size, len(files)), sum(r.seconds for r in runs.values()))
    finally:
        _ok(_converge(private))  # back to the session's secrets


# -- an override is a warning of the run and appears in the report -------------------------------------------

def test_an_override_is_a_warning_of_the_run_and_in_the_verify_report(production, request, tmp_path):
    private = production
    extra = tmp_path / "override.yml"
    extra.write_text(json.dumps({"super_todo_image_tag": "latest", "supertodo_overrides": [
        {"name": "allow_latest_image_tag", "reason": "INC-42: hotfix image only published as latest"}]}))
    refused = _converge(private, "-e", "super_todo_image_tag=latest")
    assert refused.rc != 0 and "allow_latest_image_tag" in refused.flat
    assert "TASK [supertodo.platform.delivery" not in refused.stdout
    run = _ok(_converge(private, "-e", "@%s" % extra, report_dir=tmp_path))
    assert "[WARNING] production: super_todo_image_tag is \"latest\"" in run.flat
    assert "accepted because supertodo_overrides has allow_latest_image_tag" in run.flat
    assert "[WARNING] production: override allow_latest_image_tag in force: INC-42" in run.flat
    assert _hr(private, "super-todo")["spec"]["values"]["image"]["tag"] == "latest"
    report = json.loads((tmp_path / "production.json").read_text())
    assert report["overrides"] == [{"name": "allow_latest_image_tag",
                                    "reason": "INC-42: hotfix image only published as latest"}]
    markdown = (tmp_path / "production.md").read_text()
    assert "## Overrides in force" in markdown
    assert "| `allow_latest_image_tag` | INC-42: hotfix image only published as latest |" in markdown
    warnings = [ln.strip() for ln in run.stdout.splitlines() if "[WARNING] production:" in ln and "msg" in ln]
    record(request, "override allow_latest_image_tag with a reason (super_todo_image_tag: latest)",
           "converges; a warning in the run; listed in the verify report (Markdown and JSON)",
           " / ".join(warnings)[:400], run.seconds)
    # without the override the report has no such section
    verify = _ok(_converge(private, "-e", "super_todo_image_tag=latest", name="verify.yml", report_dir=tmp_path))
    assert "Overrides in force" not in (tmp_path / "production.md").read_text()
    assert json.loads((tmp_path / "production.json").read_text())["overrides"] == []
    assert verify.rc == 0
