"""Issue 2: the local control plane (real kube-apiserver/controller-manager/scheduler v1.20.2 and etcd on
loopback), the kubelet double, the CRDs converted down, and the command's clear errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localkube import build, crds, paths, procs
from localkube.cluster import Cluster, ports_for
from localkube.rest import ApiError, Rest

REPO = Path(__file__).resolve().parents[2]
LOCALCLUSTER = REPO / "tools" / "localcluster"
ZONES = {"zone-a", "zone-b", "zone-c"}


def _resolve(doc, pointer):
    node = doc
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _remove(doc, pointer):
    parent_ptr, dummy, last = pointer.rpartition("/")
    parent = _resolve(doc, parent_ptr) if parent_ptr else doc
    del parent[last.replace("~1", "/").replace("~0", "~")]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _run_cli(state_dir, *args, env_extra=None, timeout=600):
    env = dict(os.environ, SUPERTODO_CLUSTER_DIR=str(state_dir), **(env_extra or {}))
    return subprocess.run([sys.executable, str(LOCALCLUSTER), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


# --------------------------------------------------------------------------------------- without a cluster
def test_conversion_drops_only_cel_rules_and_empty_string_defaults():
    docs = crds.load(paths.schema_dir())
    assert len(docs) == 13
    total_cel = 0
    for _f, original in docs:
        converted, dropped = crds.convert(original)
        for node in _walk(converted):
            assert "x-kubernetes-validations" not in node
            assert not (node.get("type") == "string" and node.get("default") == "")
        # Removing exactly the recorded pointers from the original gives the converted CRD: nothing else changed.
        expected = json.loads(json.dumps(original))
        for item in sorted(dropped, key=lambda d: d["pointer"], reverse=True):
            assert _resolve(original, item["pointer"]) == item["value"]
            _remove(expected, item["pointer"])
        assert expected == converted
        total_cel += sum(1 for d in dropped if d["key"] == "x-kubernetes-validations")
    raw = sum(f.read_text().count("x-kubernetes-validations:") for f in crds.crd_files(paths.schema_dir()))
    assert total_cel == raw > 0


def test_ports_are_derived_from_the_state_dir(tmp_path):
    a, b = ports_for(tmp_path / "a"), ports_for(tmp_path / "b")
    assert a == ports_for(tmp_path / "a")
    assert a != b
    assert len(set(a.values())) == 5 and all(1024 < p < 65536 for p in a.values())


def test_audit_log_is_opt_in_and_passed_to_the_apiserver(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPERTODO_AUDIT_LOG", raising=False)
    plain = Cluster(state_dir=tmp_path / "plain", echo=False)
    assert plain._audit_argv() == []
    assert not any(str(a).startswith("--audit") for a in plain._apiserver_argv())
    log = tmp_path / "logs" / "audit.log"
    monkeypatch.setenv("SUPERTODO_AUDIT_LOG", str(log))
    audited = Cluster(state_dir=tmp_path / "audited", echo=False)
    audited.state.mkdir()
    argv = [str(a) for a in audited._apiserver_argv()]
    assert argv[argv.index("--audit-log-path") + 1] == str(log)
    assert argv[argv.index("--audit-log-format") + 1] == "json"
    policy = Path(argv[argv.index("--audit-policy-file") + 1])
    assert "level: Metadata" in policy.read_text() and policy.parent == audited.state
    # a restarted apiserver (fault drills) keeps the audit log recorded by ``up`` in cluster.json
    monkeypatch.delenv("SUPERTODO_AUDIT_LOG")
    (audited.state / "cluster.json").write_text(json.dumps({"audit_log": str(log)}))
    again = [str(a) for a in Cluster(state_dir=audited.state, echo=False)._apiserver_argv()]
    assert again[again.index("--audit-log-path") + 1] == str(log)


def test_kubelet_double_readiness_waits_for_each_probe_delay():
    from localkube import kubelet
    pod = {"metadata": {}, "spec": {"containers": [
        {"name": "slow", "readinessProbe": {"initialDelaySeconds": 5}}, {"name": "plain"}]},
        "status": {"startTime": "2026-01-01T00:00:00Z"}}
    start = kubelet.parse_time("2026-01-01T00:00:00Z")
    early, due = kubelet.desired_status(pod, 1, "10.244.1.2", start + 1)
    conds = {c["type"]: c["status"] for c in early["conditions"]}
    assert early["phase"] == "Running" and conds["Ready"] == "False" and conds["ContainersReady"] == "False"
    assert [c["ready"] for c in early["containerStatuses"]] == [False, True]
    assert due == start + 5
    late, due = kubelet.desired_status(pod, 1, "10.244.1.2", start + 5)
    assert {c["type"]: c["status"] for c in late["conditions"]}["Ready"] == "True" and due is None


FAKE_APT_CACHE = "#!/bin/sh\nexit 0\n"  # knows no source package
FAKE_APT_GET = """#!/bin/sh
case "$1" in
  update) exit 0 ;;
  source) mkdir -p kubernetes-1.20.2/vendor/github.com/modern-go/reflect2 kubernetes-1.20.2/cmd
          echo 'package reflect2' > kubernetes-1.20.2/vendor/github.com/modern-go/reflect2/reflect2.go; exit 0 ;;
esac
exit 1
"""
FAKE_MAKE = "#!/bin/sh\necho 'cmd/kube-apiserver/app/server.go:477:87: undefined: openapi.GetOpenAPIDefinitions'\nexit 2\n"


@pytest.mark.parametrize("fault", ["no-source-package", "compile-error"])
def test_build_faults_give_one_clear_message_and_delete_the_tree(tmp_path, fault):
    """Fault injection: stand-ins for apt-cache/apt-get/make (in a temp dir first on PATH), a temp cache dir."""
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    scripts = {"apt-get": FAKE_APT_GET, "make": FAKE_MAKE, "apt-cache": FAKE_APT_CACHE}
    if fault == "compile-error":
        scripts["apt-cache"] = "#!/bin/sh\necho 'Package: kubernetes'\n"
    for name, text in scripts.items():
        (fakes / name).write_text(text)
        (fakes / name).chmod(0o755)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PATH="%s:%s" % (fakes, os.environ["PATH"]))
    proc = subprocess.run([sys.executable, str(LOCALCLUSTER), "build"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("localcluster build: error:")]
    assert len(errors) == 1, proc.stderr
    if fault == "no-source-package":
        assert "source package 'kubernetes' is not available" in errors[0]
    else:
        assert "make (generated files and go build) of kube-apiserver" in errors[0] and "(exit 2)" in errors[0]
        assert "undefined: openapi.GetOpenAPIDefinitions" in proc.stderr
    cache = tmp_path / "cache" / "supertodo"
    assert not (cache / "build" / "kubernetes-v1.20.2").exists()
    assert not (cache / "kubernetes" / "v1.20.2" / "kube-apiserver").exists()
    assert not (cache / "kubernetes" / "v1.20.2" / "builds.jsonl").exists()


def test_dead_etcd_gives_one_clear_message_and_leaves_nothing(tmp_path):
    fake = tmp_path / "etcd-that-dies"
    fake.write_text("#!/bin/sh\necho 'etcdmain: cannot access data directory: permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    state = tmp_path / "state"
    proc = _run_cli(state, "up", env_extra={"SUPERTODO_ETCD": str(fake)})
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "etcd exited (code 1)" in errors[0], proc.stderr
    assert "permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert procs.PidFile(state / "pids.json").read() == {}


# ------------------------------------------------------------------------------------------ with a cluster
@pytest.mark.cluster
def test_port_in_use_gives_clear_error_and_starts_nothing(tmp_path, kube):
    state = tmp_path / "busy"
    port = ports_for(state)["kube-apiserver"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        proc = _run_cli(state, "up")
    assert proc.returncode == 1
    assert "port %d on 127.0.0.1 (for kube-apiserver) is in use" % port in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (state / "pids.json").exists()


@pytest.mark.cluster
def test_control_plane_is_v1_20_2_with_rbac_and_node_authorization(kube):
    rest = kube.cluster.rest()
    assert rest.get("/version")["gitVersion"] == "v1.20.2"
    nodes = rest.get("/api/v1/nodes")["items"]
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes} >= ZONES
    pki = kube.cluster.pki
    node_a = Rest(kube.cluster.ports["kube-apiserver"], pki.path("ca.crt"), pki.path("node-node-a.crt"),
                  pki.path("node-node-a.key"))
    with pytest.raises(ApiError) as denied:
        node_a.get("/api/v1/namespaces/kube-system/secrets")
    assert denied.value.status == 403
    with pytest.raises(ApiError) as other_node:
        node_a.request("PATCH", "/api/v1/nodes/node-b", {"metadata": {"labels": {"x": "y"}}},
                       content_type="application/merge-patch+json")
    assert other_node.value.status == 403
    leases = rest.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")["items"]
    assert {l["metadata"]["name"] for l in leases} >= {"node-a", "node-b", "node-c"}
    # no insecure port, loopback only
    status = kube.cluster.status()
    assert status["api_ready"] and all(p["running"] for p in status["processes"].values())


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread, namespace: %(ns)s}
spec:
  replicas: 3
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,
           labelSelector: {matchLabels: {app: spread}}}
      containers:
        - name: web
          image: registry.example/super-todo:1.0.0
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, initialDelaySeconds: 3}
"""


@pytest.mark.cluster
def test_server_side_apply_deployment_becomes_available_spread_over_three_zones(kube):
    ns = "lc-spread-%d" % os.getpid()
    assert kube.kubectl("create", "namespace", ns).returncode == 0
    try:
        proc = kube.kubectl("apply", "--server-side", "--field-manager", "supertodo.platform", "-f", "-",
                            input=DEPLOYMENT % {"ns": ns})
        assert proc.returncode == 0, proc.stderr
        managed = json.loads(kube.kubectl("-n", ns, "get", "deployment", "spread", "-o", "json",
                                          "--show-managed-fields").stdout)["metadata"]["managedFields"]
        assert any(m["manager"] == "supertodo.platform" and m["operation"] == "Apply" for m in managed)
        wait = kube.kubectl("-n", ns, "wait", "deployment/spread", "--for=condition=Available", "--timeout=120s",
                            timeout=150)
        assert wait.returncode == 0, wait.stderr
        pods = json.loads(kube.kubectl("-n", ns, "get", "pods", "-l", "app=spread", "-o", "json").stdout)["items"]
        assert len(pods) == 3
        nodes = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in
                 json.loads(kube.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
        assert {nodes[p["spec"]["nodeName"]] for p in pods} == ZONES
        for pod in pods:
            st = pod["status"]
            assert st["phase"] == "Running" and st["podIP"].startswith("10.244.")
            ready = next(c for c in st["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True"
            # readinessProbe.initialDelaySeconds (3s) is honoured: Ready comes at least 3s after the start
            delay = (time.mktime(time.strptime(ready["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
                     - time.mktime(time.strptime(st["startTime"], "%Y-%m-%dT%H:%M:%SZ")))
            assert delay >= 3
        # deletion through the controllers: scale to 1, the double removes the terminating pods
        assert kube.kubectl("-n", ns, "scale", "deployment/spread", "--replicas=1").returncode == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = json.loads(kube.kubectl("-n", ns, "get", "pods", "-l", "app=spread", "-o", "json").stdout)["items"]
            if len(left) == 1:
                break
            time.sleep(0.5)
        assert len(left) == 1
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false")


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: %(ns)s}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          image: registry.example/postgres:15
          readinessProbe: {exec: {command: ["true"]}, initialDelaySeconds: 1}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: db, namespace: %(ns)s}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: db}}
"""


@pytest.mark.cluster
def test_statefulset_rolls_out_in_order_and_pdb_counts_healthy_pods(kube):
    ns = "lc-sts-%d" % os.getpid()
    assert kube.kubectl("create", "namespace", ns).returncode == 0
    try:
        proc = kube.kubectl("apply", "--server-side", "-f", "-", input=STATEFULSET % {"ns": ns})
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sts = json.loads(kube.kubectl("-n", ns, "get", "statefulset", "db", "-o", "json").stdout)
            pdb = json.loads(kube.kubectl("-n", ns, "get", "pdb", "db", "-o", "json").stdout)
            if sts["status"].get("readyReplicas") == 3 and pdb.get("status", {}).get("currentHealthy") == 3:
                break
            time.sleep(0.5)
        assert sts["status"].get("readyReplicas") == 3
        assert pdb["status"]["currentHealthy"] == 3 and pdb["status"]["disruptionsAllowed"] == 1
        pods = {p["metadata"]["name"]: p for p in
                json.loads(kube.kubectl("-n", ns, "get", "pods", "-l", "app=db", "-o", "json").stdout)["items"]}
        # OrderedReady: db-1 was created only after db-0 was Ready, db-2 after db-1
        for prev, nxt in (("db-0", "db-1"), ("db-1", "db-2")):
            ready = next(c for c in pods[prev]["status"]["conditions"] if c["type"] == "Ready")
            assert pods[nxt]["metadata"]["creationTimestamp"] >= ready["lastTransitionTime"]
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.cluster
def test_every_crd_is_established(kube):
    rest = kube.cluster.rest()
    want = {doc["metadata"]["name"] for _f, doc in crds.load(paths.schema_dir())}
    assert len(want) == 13
    live = {c["metadata"]["name"]: c for c in rest.get(crds.CRD_PATH)["items"]}
    for name in want:
        conds = {c["type"]: c["status"] for c in live[name]["status"]["conditions"]}
        assert conds.get("Established") == "True", name


@pytest.mark.cluster
def test_custom_resource_with_a_wrong_type_is_rejected_422(kube):
    rest = kube.cluster.rest()
    good = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "lc-typecheck", "namespace": "default"},
            "spec": {"interval": "1m", "url": "https://git.example/super-todo.git", "ref": {"branch": "main"}}}
    bad = json.loads(json.dumps(good))
    bad["metadata"]["name"] = "lc-typecheck-bad"
    bad["spec"]["interval"] = 60  # a string (duration) in the schema
    path = "/apis/source.toolkit.fluxcd.io/v1/namespaces/default/gitrepositories"
    with pytest.raises(ApiError) as rejected:
        rest.request("POST", path, bad, params={"dryRun": "All"})
    assert rejected.value.status == 422
    assert "spec.interval" in str(rejected.value)
    # and a correct one is accepted (dry run): the schema is enforced, not everything rejected
    assert rest.request("POST", path, good, params={"dryRun": "All"})["spec"]["interval"] == "1m"


@pytest.mark.cluster
def test_record_of_dropped_rules_matches_the_crds(kube):
    record = json.loads((kube.state_dir / crds.DROPPED_FILE).read_text())
    docs = crds.load(paths.schema_dir())
    assert len(record) == 13
    live = {c["metadata"]["name"]: c for c in kube.cluster.rest().get(crds.CRD_PATH)["items"]}
    for _f, original in docs:
        name = original["metadata"]["name"]
        _converted, dropped = crds.convert(original)
        assert record[name]["dropped"] == dropped
        for item in dropped:
            assert _resolve(original, item["pointer"]) == item["value"]
            with pytest.raises(KeyError):
                _resolve(live[name], item["pointer"])
    hr = record["helmreleases.helm.toolkit.fluxcd.io"]["dropped"]
    assert any(d["key"] == "x-kubernetes-validations" for d in hr)
    sm = record["servicemonitors.monitoring.coreos.com"]["dropped"]
    assert sm and all(d["key"] == "default" and d["value"] == "" for d in sm)


@pytest.mark.cluster
def test_second_up_reuses_the_running_cluster_and_the_cached_binaries(kube):
    builds = len(build.build_history())
    again = Cluster(state_dir=kube.state_dir, echo=False).up()
    assert again["reused"] is True
    assert len(build.build_history()) == builds


@pytest.mark.cluster
@pytest.mark.slow
def test_up_from_nothing_and_down_leaves_no_process_and_no_port(tmp_path, kube):
    """A second, fresh cluster in its own state dir through the command: up (cached binaries), status, down."""
    state = tmp_path / "fresh"
    builds = len(build.build_history())
    t0 = time.monotonic()
    up = _run_cli(state, "up")
    up_seconds = time.monotonic() - t0
    try:
        assert up.returncode == 0, up.stderr
        info = json.loads((state / "cluster.json").read_text())
        assert up.stdout.strip().splitlines() == ["export KUBECONFIG=%s" % (state.resolve() / "kubeconfig"),
                                                  "export SUPERTODO_GIT_URL=%s" % info["git_url"]]
        assert len(build.build_history()) == builds, "up rebuilt the binaries"
        assert info["built"] is False
        status = _run_cli(state, "status", "--json")
        assert status.returncode == 0
        st = json.loads(status.stdout)
        assert set(st["processes"]) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                        "git-server", "kubelet-double"}
        print("\nMEASURE up with cached binaries: %.1fs, API ready %.1fs, control plane RSS %d MiB (%s)" % (
            up_seconds, info["timings"]["api_ready"], st["rss_kib_total"] // 1024,
            ", ".join("%s %d MiB" % (n, p["rss_kib"] // 1024) for n, p in st["processes"].items())))
        entries = procs.PidFile(state / "pids.json").read()
    finally:
        down = _run_cli(state, "down")
    assert down.returncode == 0, down.stderr
    assert not any(procs.alive(e) for e in entries.values())
    for name, port in dict(ports_for(state.resolve()), git=info["ports"]["git-server"]).items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # raises if anything still listens
    assert not state.exists()
    again = _run_cli(state, "status")
    assert again.returncode == 3 and "cluster is down" in again.stdout


PLAYBOOK = """
- name: kubernetes.core.k8s_info against the local API
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the nodes
      kubernetes.core.k8s_info:
        kind: Node
      register: nodes
    - name: Collect the zones of the nodes
      ansible.builtin.set_fact:
        zones: "{{ zones | default([]) + [item.metadata.labels['topology.kubernetes.io/zone']] }}"
      loop: "{{ nodes.resources }}"
      loop_control:
        label: "{{ item.metadata.name }}"
    - name: The kubelet double's three zones are visible
      ansible.builtin.assert:
        that:
          - nodes.resources | length >= 3
          - (zones | unique | sort) == ['zone-a', 'zone-b', 'zone-c']
"""


@pytest.mark.cluster
def test_ansible_playbook_from_the_checkout_reads_the_local_api(kube, tmp_path):
    playbook = tmp_path / "k8s_info.yml"
    playbook.write_text(PLAYBOOK)
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)], cwd=str(REPO),
                          env=kube.env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok=3" in proc.stdout and "failed=0" in proc.stdout
