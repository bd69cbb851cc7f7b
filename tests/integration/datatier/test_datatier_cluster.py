# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data tier converged on the local cluster (real kube-apiserver 1.20 + etcd, the Flux controller double).

The roles' objects are applied by the delivery step; the Flux double marks each HelmRelease Ready only when its
values fit the chart's schema (redis-cluster: its values.yaml keys). Checks the live objects: HelmReleases Ready,
the instance counts stored by the API server, backup objects only in production, a second converge changes
nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from test_datatier_render import SECRETS

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
# The local control plane is Kubernetes 1.20: it serves CronJob as batch/v1beta1 only, which the offline
# validation knows up to 1.24. No extra vars: the environment role reads both from the cluster.
OLD_CLUSTER = []  # none: the 1.20 cluster's version and CronJob apiVersion are read from it (roles/environment)


def converge(kube, env_name, *args):
    env = dict(kube.env)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("K8S_AUTH_HOST", None)
    for key in list(env):
        if key.startswith("SUPERTODO_") and key != "SUPERTODO_SCHEMA_DIR":
            env.pop(key)
    env.update(SECRETS)
    return subprocess.run(["ansible-playbook", "-i", "inventories/%s" % env_name, str(HERE / "converge_datatier.yml"),
                           *args], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=900, check=False)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


def get(kube, *args):
    proc = kube.kubectl("get", *args, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ready(obj):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions", []))


def wait_ready(kube, namespace, names, timeout=180):
    """Poll (monotonic clock) until every HelmRelease in ``names`` is Ready; returns them, or fails with status."""
    deadline = time.monotonic() + timeout
    while True:
        items = {i["metadata"]["name"]: i for i in get(kube, "helmreleases.helm.toolkit.fluxcd.io", "-n", namespace)["items"]}
        if all(n in items and ready(items[n]) for n in names):
            return items
        if time.monotonic() > deadline:
            pytest.fail("HelmReleases %s in %s not Ready after %ss: %s" % (
                names, namespace, timeout, {n: (items.get(n) or {}).get("status") for n in names}))
        time.sleep(1)


@pytest.fixture(scope="module", autouse=True)
def namespaces(kube):
    """flux-system exists where Flux is bootstrapped; namespaces this module created are removed afterwards."""
    existed = {ns: kube.kubectl("get", "namespace", ns).returncode == 0 for ns in ("flux-system", "staging", "production")}
    if not existed["flux-system"]:
        assert kube.kubectl("create", "namespace", "flux-system").returncode == 0
    yield
    for ns in ("staging", "production"):
        if existed[ns]:
            kube.kubectl("-n", ns, "delete", "helmreleases.helm.toolkit.fluxcd.io", "postgres-%s" % ns, "redis-%s" % ns,
                         "--ignore-not-found", "--wait=false")
    if existed["flux-system"]:
        kube.kubectl("-n", "flux-system", "delete", "helmrepositories.source.toolkit.fluxcd.io", "cloudnative-pg",
                     "bitnami", "--ignore-not-found", "--wait=false")
    for ns, was in existed.items():
        if not was:
            kube.kubectl("delete", "namespace", ns, "--wait=false")


def test_staging_data_tier_converges(kube):
    _ok(converge(kube, "staging"))
    items = wait_ready(kube, "staging", ["postgres-staging", "redis-staging"])
    assert items["postgres-staging"]["spec"]["values"]["cluster"]["instances"] == 1
    assert items["redis-staging"]["spec"]["values"]["architecture"] == "standalone"
    repos = get(kube, "helmrepositories.source.toolkit.fluxcd.io", "-n", "flux-system")["items"]
    assert {"cloudnative-pg", "bitnami"} <= {r["metadata"]["name"] for r in repos if ready(r)}
    for kind in ("objectstores.barmancloud.cnpg.io", "scheduledbackups.postgresql.cnpg.io", "cronjobs.batch"):
        assert get(kube, kind, "-n", "staging")["items"] == [], kind
    again = _ok(converge(kube, "staging"))
    assert "changed=0" in again.stdout, again.stdout[-3000:]


def test_production_releases_converge_without_backups(kube):
    # Production refuses to run without backups unless the documented override says why (docs/secrets.md).
    # An apply-mode converge never prunes: an ObjectStore an earlier converge of this shared cluster applied stays,
    # so it is removed first and the converge must not bring it back.
    kube.kubectl("-n", "production", "delete", "objectstores.barmancloud.cnpg.io", "--all", "--ignore-not-found")
    _ok(converge(kube, "production", "-e", "backups_enabled=false", "-e",
                 '{"supertodo_overrides": [{"name": "allow_backups_disabled", "reason": "data tier test"}]}'))
    items = wait_ready(kube, "production", ["postgres-production", "redis-production"])
    values = items["postgres-production"]["spec"]["values"]
    assert values["cluster"]["instances"] == 3 and values["cluster"]["plugins"] == []
    assert items["redis-production"]["spec"]["values"]["cluster"] == {"nodes": 6, "replicas": 1}
    assert get(kube, "objectstores.barmancloud.cnpg.io", "-n", "production")["items"] == []


def test_production_with_backups_converges(kube):
    _ok(converge(kube, "production", *OLD_CLUSTER))
    items = wait_ready(kube, "production", ["postgres-production", "redis-production"])
    plugin = items["postgres-production"]["spec"]["values"]["cluster"]["plugins"][0]
    stores = get(kube, "objectstores.barmancloud.cnpg.io", "-n", "production")["items"]
    assert [s["metadata"]["name"] for s in stores] == [plugin["parameters"]["barmanObjectName"]]
    assert stores[0]["spec"]["configuration"]["wal"]["maxParallel"] == 4
    sched = get(kube, "scheduledbackups.postgresql.cnpg.io", "-n", "production")["items"]
    assert [s["spec"]["cluster"]["name"] for s in sched] == ["postgres-production"]
    assert [c["metadata"]["name"] for c in get(kube, "cronjobs.batch", "-n", "production")["items"]] == \
        ["redis-production-snapshot"]
    again = _ok(converge(kube, "production", *OLD_CLUSTER))
    assert "changed=0" in again.stdout, again.stdout[-3000:]
