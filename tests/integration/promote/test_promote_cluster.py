# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/promote.yml on the local cluster (real kube-apiserver 1.20 + etcd, kubelet and Flux doubles), with the
backup gate reading a real barman-cloud archive (real PostgreSQL, barman-cloud-backup) in a real SeaweedFS.

The tests run in order and share the cluster state: staging runs v1.1.0, production its inventory's v1.0.0;
without a recorded restore drill production is refused, then a real drill of the archive (barman-cloud-restore into a
scratch PostgreSQL 15) is recorded; a gate that fails refuses without touching production; v1.1.0 is promoted; v1.2.0 cannot roll out (a
ResourceQuota leaves no room for the new pods) and is rolled back; the rollback mode returns to v1.0.0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common import free_ports
from services.postgres import PostgresServer
from services.seaweedfs import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
BUCKET = "super-todo-backups"
SERVER = "postgres-production"
DEST = "s3://%s/postgres-production" % BUCKET
RECORD = "supertodo-promotions"
DRILLS = "supertodo-restore-drills"
DRILL_WRAPPER = REPO / "roles" / "restore_drill" / "files" / "run_drill.py"
WHO = "promote-tester"
OLD_CLUSTER = []
PRODUCTION_SECRETS = {
    "SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": "Pv7qN2sL9xK4mW8rT3yB6cF1",
    "SUPERTODO_POSTGRES_APP_PASSWORD": "Ap5jR8wQ2nV7kZ4xM9pL3sT6",
    "SUPERTODO_REDIS_PASSWORD": "Rd4nM7qW2eR9tY5uI8oP3aS6",
}


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3(buckets=(BUCKET,)).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def archive(s3):
    """A real archive of production's server name: WAL archiving plus one base backup, taken now."""
    pg = PostgresServer(archive=(DEST, SERVER, s3.endpoint_url, s3.env()), compression="gzip").init().start()
    try:
        pg.execute("CREATE TABLE todo (id serial PRIMARY KEY, label text)")
        pg.execute("INSERT INTO todo (label) SELECT 'todo-' || g FROM generate_series(1, 20) g")
        pg.switch_wal()
        env = dict(os.environ, **s3.env(), **pg.pg_env())
        res = subprocess.run(["barman-cloud-backup", "--endpoint-url", s3.endpoint_url, "--immediate-checkpoint",
                              DEST, SERVER], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        pg.switch_wal()
        yield s3
    finally:
        pg.cleanup()


class Run:
    def __init__(self, kube, s3, tmp):
        self.kube = kube
        self.s3 = s3
        self.report_dir = str(tmp)

    def env(self):
        env = dict(self.kube.env)
        env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
        env["ANSIBLE_NOCOLOR"] = "1"
        env.pop("K8S_AUTH_HOST", None)
        for key in list(env):
            if key.startswith("SUPERTODO_") and key not in ("SUPERTODO_SCHEMA_DIR", "SUPERTODO_GIT_URL"):
                env.pop(key)
        env.update(PRODUCTION_SECRETS)
        # production's backup credentials are the S3 server's: the backup gate reads the archive with them
        env["SUPERTODO_BACKUP_S3_ACCESS_KEY_ID"] = self.s3.access_key
        env["SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY"] = self.s3.secret_key
        env["SUPERTODO_VERIFY_REPORT_DIR"] = self.report_dir
        env["USER"] = WHO
        # ansible's "~/.ansible/tmp" would expand to "~promote-tester" (no such account) inside the checkout
        env["ANSIBLE_REMOTE_TMP"] = env["ANSIBLE_LOCAL_TEMP"] = os.path.join(self.report_dir, "ansible-tmp")
        return env

    def playbook(self, inventory, playbook, *args):
        extra = ["-e", "backups_endpoint_url=%s" % self.s3.endpoint_url] if inventory == "production" else []
        return subprocess.run(["ansible-playbook", "-i", "inventories/%s" % inventory, playbook, *OLD_CLUSTER,
                               *extra, *args], cwd=str(REPO), env=self.env(), capture_output=True, text=True,
                              timeout=1200, check=False)

    def promote(self, *args):
        return self.playbook("production", "playbooks/promote.yml", *args)

    def get(self, *args):
        proc = self.kube.kubectl(*args, "-o", "json")
        assert proc.returncode == 0, "kubectl %s: %s" % (" ".join(args), proc.stderr)
        return json.loads(proc.stdout)

    def record(self):
        data = self.get("-n", "production", "get", "configmap", RECORD)["data"]
        return json.loads(data["last"]), json.loads(data["history"])

    def production_tag(self):
        hr = self.get("-n", "production", "get", "helmreleases.helm.toolkit.fluxcd.io", "super-todo")
        return hr["spec"]["values"]["image"]["tag"]

    def settled_pods(self, timeout=120):
        """production's pods once every Deployment there has finished rolling out (no surge or terminating pod):
        a count taken mid-rollout would leave room for one more pod after it."""
        deadline = time.monotonic() + timeout
        previous = None
        while True:
            deployments = self.get("-n", "production", "get", "deployments")["items"]
            pods = self.get("-n", "production", "get", "pods")["items"]
            settled = all(d["status"].get("observedGeneration", 0) >= d["metadata"]["generation"]
                          and d["status"].get("replicas", 0) == d["spec"].get("replicas", 1)
                          == d["status"].get("updatedReplicas", 0) == d["status"].get("availableReplicas", 0)
                          for d in deployments) and not any(p["metadata"].get("deletionTimestamp") for p in pods)
            names = sorted(p["metadata"]["name"] for p in pods)
            if settled and names == previous:
                return pods
            assert time.monotonic() < deadline, "production's pods did not settle in %ds: %s" % (timeout, names)
            previous = names if settled else None
            time.sleep(1)

    def production_image(self):
        dep = self.get("-n", "production", "get", "deployment", "super-todo")
        return dep["spec"]["template"]["spec"]["containers"][0]["image"], dep["status"].get("availableReplicas", 0)

    def versions(self):
        """resourceVersion of every object in production and of the Flux objects (the record excepted)."""
        out = {}
        kinds = ("namespaces,resourcequotas,limitranges,serviceaccounts,secrets,configmaps,roles,rolebindings,"
                 "networkpolicies,services,deployments,replicasets,pods,horizontalpodautoscalers,"
                 "poddisruptionbudgets,ingresses,helmreleases.helm.toolkit.fluxcd.io")
        for item in self.get("-n", "production", "get", kinds)["items"]:
            meta = item["metadata"]
            if item["kind"] == "ResourceQuota":
                continue       # its status follows the pods; the pods themselves are compared
            if not (item["kind"] == "ConfigMap" and meta["name"] == RECORD):
                out[(item["kind"], meta.get("namespace"), meta["name"])] = meta["resourceVersion"]
        for item in self.get("-n", "flux-system", "get", "gitrepositories.source.toolkit.fluxcd.io,"
                             "helmcharts.source.toolkit.fluxcd.io")["items"]:
            out[(item["kind"], "flux-system", item["metadata"]["name"])] = item["metadata"]["resourceVersion"]
        return out


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    return proc


def _flat(proc):
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.fixture(scope="module")
def run(kube, archive, tmp_path_factory):
    runner = Run(kube, archive, tmp_path_factory.mktemp("verify"))
    if kube.kubectl("get", "namespace", "flux-system").returncode != 0:
        assert kube.kubectl("create", "namespace", "flux-system").returncode == 0
    kube.kubectl("-n", "production", "delete", "configmap", RECORD, "--ignore-not-found")
    kube.kubectl("-n", "production", "delete", "configmap", DRILLS, "--ignore-not-found")
    _ok(runner.playbook("staging", "playbooks/site.yml", "-e", "super_todo_image_tag=v1.1.0"))
    _ok(runner.playbook("production", "playbooks/site.yml"))
    assert runner.production_tag() == "v1.0.0"
    yield runner
    kube.kubectl("-n", "production", "delete", "resourcequota", "promote-test-pods", "--ignore-not-found")
    kube.kubectl("-n", "production", "delete", "configmap", RECORD, "--ignore-not-found")
    kube.kubectl("-n", "production", "delete", "configmap", DRILLS, "--ignore-not-found")


def test_production_is_refused_until_a_passed_restore_drill_is_recorded(run, kube):
    before = run.versions()
    proc = run.promote("-e", "promote_confirm=v1.1.0")
    assert proc.returncode != 0
    flat = _flat(proc)
    assert ("restore_drill: no restore drill of %s/%s is recorded in ConfigMap production/%s" % (DEST, SERVER, DRILLS)
            in flat), flat[-3000:]
    assert run.versions() == before
    last, _history = run.record()
    assert last["result"] == "refused" and last["gates"]["restore_drill"]["status"] == "failed"
    assert {name for name, gate in last["gates"].items() if gate["status"] == "failed"} == {"restore_drill"}
    # a real drill of production's archive, recorded in production's namespace through the exit-status entry point
    env = dict(run.env(), **run.s3.env())
    extra = {"restore_drill_destination_path": DEST, "restore_drill_server_name": SERVER,
             "restore_drill_endpoint_url": run.s3.endpoint_url, "restore_drill_database": "postgres",
             "restore_drill_port": free_ports(1, low=36000, high=38000)[0],
             "restore_drill_record_namespace": "production",
             "restore_drill_checks": [{"name": "todos", "query": "SELECT count(*) FROM todo", "expected": 20}]}
    drill = subprocess.run([sys.executable, str(DRILL_WRAPPER), "-e", json.dumps(extra)], cwd=str(REPO), env=env,
                           capture_output=True, text=True, timeout=900, check=False)
    assert drill.returncode == 0, drill.stdout[-6000:] + drill.stderr[-2000:]
    data = run.get("-n", "production", "get", "configmap", DRILLS)["data"]
    drill_last = json.loads(data["last"])
    assert drill_last["verdict"] == "passed" and json.loads(data["history"]) == [drill_last]
    assert drill_last["archive"] == {"destination_path": DEST, "server_name": SERVER}
    print("restore drill before promotion: RTO %ss" % drill_last["rto_seconds"])
    # the promotion history starts afresh for the tests below
    kube.kubectl("-n", "production", "delete", "configmap", RECORD)


def test_a_failing_gate_refuses_before_any_change(run):
    before = run.versions()
    proc = run.promote("-e", "promote_confirm=v1.1.0", "-e", "promote_backup_max_age=1s")
    assert proc.returncode != 0
    flat = _flat(proc)
    assert "promote of production from v1.0.0 to v1.1.0 refused, nothing changed: backup:" in flat
    assert "backup_age check failed" in flat
    assert run.versions() == before
    assert run.production_tag() == "v1.0.0"
    last, history = run.record()
    assert last["result"] == "refused" and last["from"] == "v1.0.0" and last["to"] == "v1.1.0"
    assert last["who"] == WHO and last["when"].endswith("Z")
    assert last["gates"]["backup"]["status"] == "failed"
    assert {name: gate["status"] for name, gate in last["gates"].items() if name != "backup"} == {
        "version": "passed", "staging_ready": "passed", "smoke": "passed", "confirm": "passed",
        "restore_drill": "passed"}
    assert "Ready for generation" in last["gates"]["staging_ready"]["message"]
    assert history == [last]


def test_a_version_staging_does_not_run_and_a_missing_confirmation_are_refused(run):
    before = run.versions()
    proc = run.promote("-e", "promote_version=v9.9.9")
    assert proc.returncode != 0
    assert run.versions() == before
    last, history = run.record()
    assert last["result"] == "refused" and last["to"] == "v9.9.9"
    assert last["gates"]["version"]["status"] == "failed"
    assert "is not what staging runs ('v1.1.0')" in last["gates"]["version"]["message"]
    assert last["gates"]["confirm"]["status"] == "failed"
    assert last["gates"]["backup"]["status"] == "passed"       # the archive is fresh: only the other gates fail
    assert [r["result"] for r in history] == ["refused", "refused"]


def test_promotion_moves_production_and_is_recorded(run):
    proc = _ok(run.promote("-e", "promote_version=v1.1.0", "-e", "promote_confirm=v1.1.0"))
    assert run.production_tag() == "v1.1.0"
    image, available = run.production_image()
    assert image == "andreqko/super-todo:v1.1.0" and available >= 2
    last, history = run.record()
    assert last["result"] == "succeeded" and last["from"] == "v1.0.0" and last["to"] == "v1.1.0"
    assert all(gate["status"] == "passed" for gate in last["gates"].values()), last["gates"]
    # allowed after the drill recorded above: the gate names it and its age
    assert last["gates"]["restore_drill"]["message"].startswith("last passed: passed drill postgres-production-")
    assert "backups" in last["gates"]["backup"]["message"] or "backup" in last["gates"]["backup"]["message"]
    assert len(history) == 3 and history[0] == last
    # no secret value in the output
    for value in list(PRODUCTION_SECRETS.values()) + [run.s3.secret_key]:
        assert value not in proc.stdout + proc.stderr
    report = _ok(run.playbook("production", "playbooks/verify.yml"))
    assert "last promotion: v1.0.0 -> v1.1.0, succeeded, by %s at %s" % (WHO, last["when"]) in report.stdout


def test_a_release_that_cannot_roll_out_is_rolled_back(run, kube):
    _ok(run.playbook("staging", "playbooks/site.yml", "-e", "super_todo_image_tag=v1.2.0"))
    pods = run.settled_pods()
    # A real refusal by the API server: no room for the surge pod of the new ReplicaSet.
    assert kube.kubectl("-n", "production", "create", "quota", "promote-test-pods",
                        "--hard=pods=%d" % len(pods)).returncode == 0
    try:
        proc = run.promote("-e", "promote_confirm=v1.2.0", "-e", "promote_reconcile_timeout=30")
    finally:
        kube.kubectl("-n", "production", "delete", "resourcequota", "promote-test-pods")
    assert proc.returncode != 0
    flat = _flat(proc)
    assert "promote of production from v1.1.0 to v1.2.0: rolled-back." in flat
    assert "HelmRelease production/super-todo not ready after 30s" in flat
    assert run.production_tag() == "v1.1.0"
    image, available = run.production_image()
    assert image == "andreqko/super-todo:v1.1.0" and available >= 2
    last, history = run.record()
    assert last["result"] == "rolled-back" and last["from"] == "v1.1.0" and last["to"] == "v1.2.0"
    assert "not ready after 30s" in last["message"] and last["message"].endswith("rolled back to v1.1.0")
    assert [r["result"] for r in history[:2]] == ["rolled-back", "succeeded"]


def test_rollback_mode_returns_to_before_the_last_succeeded_promotion(run):
    proc = run.promote("-e", "promote_mode=rollback")
    assert proc.returncode != 0 and "promote_confirm must be the version production moves to ('v1.0.0')" in _flat(proc)
    assert run.production_tag() == "v1.1.0"
    _ok(run.promote("-e", "promote_mode=rollback", "-e", "promote_confirm=v1.0.0"))
    assert run.production_tag() == "v1.0.0"
    last, history = run.record()
    assert last["result"] == "succeeded" and last["mode"] == "rollback"
    assert last["from"] == "v1.1.0" and last["to"] == "v1.0.0"
    assert "v1.0.0 -> v1.1.0" in last["gates"]["rollback_target"]["message"]
    assert len(history) == 6
