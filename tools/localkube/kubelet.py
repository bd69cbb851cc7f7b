"""Test double of the kubelet (NOT a kubelet): makes the real scheduler and controllers see working nodes.

Contract it imitates (upstream kubelet behaviour, simplified; no containers are run):
- registers 3 Nodes node-a/b/c, labelled ``topology.kubernetes.io/zone`` zone-a/b/c, ``topology.kubernetes.io/
  region`` and ``kubernetes.io/hostname``, with generous capacity (8 CPU, 32Gi, 110 pods), Ready True;
- renews each node's Lease in ``kube-node-lease`` every 10s and refreshes the Ready heartbeat every minute;
- for Pods bound to its nodes: sets phase Running, podIP, hostIP, containerStatuses (running), and the
  Ready/ContainersReady conditions once every container's ``readinessProbe.initialDelaySeconds`` has elapsed;
- Pods with a deletionTimestamp are removed at once (grace period 0), as a kubelet does when containers stop.

Each node talks to the apiserver with its own client certificate (CN=system:node:<name>, O=system:nodes), so the
Node authorizer and NodeRestriction admission apply as for a real kubelet. One process, one watch per node.

Run: ``python -m localkube.kubelet --state-dir <state> --port <apiserver port>`` (started by ``localcluster up``).
"""

from __future__ import annotations

import argparse
import datetime
import heapq
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from localkube.rest import ApiError, Rest

NODES = (("node-a", "zone-a"), ("node-b", "zone-b"), ("node-c", "zone-c"))
REGION = "local"
LEASE_SECONDS = 40
RENEW_EVERY = 10.0
HEARTBEAT_EVERY = 60.0
CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
LOG = logging.getLogger("kubelet-double")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def node_conditions(ts):
    conds = []
    for ctype, status, reason in (("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                                  ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                                  ("PIDPressure", "False", "KubeletHasSufficientPID"),
                                  ("Ready", "True", "KubeletReady")):
        conds.append({"type": ctype, "status": status, "reason": reason, "message": "kubelet double",
                      "lastHeartbeatTime": ts, "lastTransitionTime": ts})
    return conds


def ready_delay(container):
    probe = container.get("readinessProbe") or {}
    return float(probe.get("initialDelaySeconds", 0) or 0)


def desired_status(pod, node_index, ip, wall):
    """The status a kubelet would report for ``pod`` at wall-clock ``wall`` (pod started at its startTime)."""
    status = pod.get("status") or {}
    start_text = status.get("startTime") or now()
    start = parse_time(start_text)
    containers = pod["spec"].get("containers", [])
    statuses = []
    for c in containers:
        ready = wall >= start + ready_delay(c)
        statuses.append({"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                         "started": True, "restartCount": 0, "containerID": "double://%s" % c["name"],
                         "state": {"running": {"startedAt": start_text}}})
    init = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
             "containerID": "double://%s" % c["name"],
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start_text,
                                      "finishedAt": start_text}}}
            for c in pod["spec"].get("initContainers", [])]
    all_ready = all(s["ready"] for s in statuses)
    old = {c["type"]: c for c in status.get("conditions", [])}

    def cond(ctype, value):
        prev = old.get(ctype)
        trans = prev["lastTransitionTime"] if prev and prev.get("status") == value else now()
        return {"type": ctype, "status": value, "lastProbeTime": None, "lastTransitionTime": trans}

    out = {"phase": "Running", "hostIP": "127.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": start_text,
           "qosClass": status.get("qosClass", "BestEffort"),
           "conditions": [cond("Initialized", "True"), cond("Ready", "True" if all_ready else "False"),
                          cond("ContainersReady", "True" if all_ready else "False"), cond("PodScheduled", "True")],
           "containerStatuses": statuses}
    if init:
        out["initContainerStatuses"] = init
    next_due = [start + ready_delay(c) for c in containers if wall < start + ready_delay(c)]
    return out, (min(next_due) if next_due else None)


def _same(current, desired):
    if (current or {}).get("phase") != "Running" or current.get("podIP") != desired["podIP"]:
        return False
    cur = {c["type"]: c["status"] for c in current.get("conditions", [])}
    want = {c["type"]: c["status"] for c in desired["conditions"]}
    if cur != want:
        return False
    return [(c["name"], c["ready"]) for c in current.get("containerStatuses", [])] == [
        (c["name"], c["ready"]) for c in desired["containerStatuses"]]


class Node:
    def __init__(self, index, name, zone, port, pki_dir: Path, stop: threading.Event, timers):
        self.index = index
        self.name = name
        self.zone = zone
        self.rest = Rest(port, pki_dir / "ca.crt", pki_dir / ("node-%s.crt" % name), pki_dir / ("node-%s.key" % name))
        self.stop = stop
        self.timers = timers
        self.ips = {}
        self.next_ip = 2

    # nodes and leases ----------------------------------------------------------------------------------------
    def register(self):
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "topology.kubernetes.io/zone": self.zone, "topology.kubernetes.io/region": REGION,
                  "failure-domain.beta.kubernetes.io/zone": self.zone,
                  "failure-domain.beta.kubernetes.io/region": REGION}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": labels},
                "spec": {}}
        try:
            self.rest.request("POST", "/api/v1/nodes", body)
        except ApiError as exc:
            if exc.status != 409:
                raise
        self.heartbeat()

    def heartbeat(self):
        ts = now()
        status = {"status": {
            "capacity": CAPACITY, "allocatable": CAPACITY, "conditions": node_conditions(ts),
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "double://0.1", "osImage": "kubelet double",
                         "kernelVersion": "", "machineID": self.name, "systemUUID": self.name, "bootID": self.name}}}
        self.rest.request("PATCH", "/api/v1/nodes/%s/status" % self.name, status,
                          content_type="application/strategic-merge-patch+json")

    def renew_lease(self):
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s" % self.name
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro()}
        try:
            self.rest.request("PATCH", path, {"spec": spec}, content_type="application/merge-patch+json")
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.rest.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                              {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                               "metadata": {"name": self.name, "namespace": "kube-node-lease"}, "spec": spec})

    # pods ----------------------------------------------------------------------------------------------------
    def ip_for(self, uid):
        if uid not in self.ips:
            self.ips[uid] = "10.244.%d.%d" % (self.index, self.next_ip)
            self.next_ip = self.next_ip + 1 if self.next_ip < 250 else 2
        return self.ips[uid]

    def sync_pod(self, pod):
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        path = "/api/v1/namespaces/%s/pods/%s" % (ns, name)
        if meta.get("deletionTimestamp"):
            try:
                self.rest.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                                   "preconditions": {"uid": uid}})
            except ApiError as exc:
                if exc.status not in (404, 409):
                    raise
            self.ips.pop(uid, None)
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        desired, due = desired_status(pod, self.index, self.ip_for(uid), time.time())
        if not _same(pod.get("status"), desired):
            try:
                self.rest.request("PATCH", path + "/status", {"status": desired},
                                  content_type="application/merge-patch+json")
            except ApiError as exc:
                if exc.status not in (404, 409):
                    raise
        if due is not None:
            self.timers.add(due, self, ns, name)

    def resync_one(self, ns, name):
        try:
            pod = self.rest.get("/api/v1/namespaces/%s/pods/%s" % (ns, name))
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        if pod["spec"].get("nodeName") == self.name:
            self.sync_pod(pod)

    def watch_pods(self):
        selector = "spec.nodeName=%s" % self.name
        while not self.stop.is_set():
            try:
                listing = self.rest.get("/api/v1/pods", fieldSelector=selector)
                for pod in listing["items"]:
                    self.sync_pod(pod)
                rv = listing["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for etype, obj in self.rest.watch("/api/v1/pods", rv, timeout_seconds=240,
                                                      fieldSelector=selector):
                        if etype == "ERROR":
                            raise ApiError(obj.get("code", 500), obj.get("reason", ""), obj.get("message", ""))
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if etype in ("ADDED", "MODIFIED"):
                            self.sync_pod(obj)
                        elif etype == "DELETED":
                            self.ips.pop(obj["metadata"]["uid"], None)
            except Exception as exc:  # noqa: BLE001 - a broken watch is relisted, as a kubelet does
                if self.stop.is_set():
                    return
                LOG.warning("%s: pod watch restarts after: %s", self.name, exc)
                self.stop.wait(1.0)


class Timers:
    """Readiness deadlines: one thread, a heap of (due, node, namespace, name)."""

    def __init__(self, stop):
        self.stop = stop
        self.heap = []
        self.cond = threading.Condition()
        self.seq = 0

    def add(self, due, node, ns, name):
        with self.cond:
            self.seq += 1
            heapq.heappush(self.heap, (due, self.seq, node, ns, name))
            self.cond.notify()

    def run(self):
        while not self.stop.is_set():
            with self.cond:
                wait = 5.0 if not self.heap else max(0.0, self.heap[0][0] - time.time())
                if wait > 0:
                    self.cond.wait(min(wait, 5.0))
                    continue
                _due, _seq, node, ns, name = heapq.heappop(self.heap)
            try:
                node.resync_one(ns, name)
            except Exception as exc:  # noqa: BLE001 - logged; the next watch event resyncs the pod
                LOG.warning("%s: readiness update of %s/%s failed: %s", node.name, ns, name, exc)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m localkube.kubelet", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    timers = Timers(stop)
    nodes = [Node(i + 1, name, zone, args.port, args.state_dir / "pki", stop, timers)
             for i, (name, zone) in enumerate(NODES)]
    for node in nodes:
        node.register()
        node.renew_lease()
        LOG.info("registered %s in %s", node.name, node.zone)
    threads = [threading.Thread(target=n.watch_pods, name="pods-" + n.name, daemon=True) for n in nodes]
    threads.append(threading.Thread(target=timers.run, name="timers", daemon=True))
    for t in threads:
        t.start()
    last_heartbeat = time.monotonic()
    while not stop.wait(RENEW_EVERY):
        for node in nodes:
            try:
                node.renew_lease()
                if time.monotonic() - last_heartbeat >= HEARTBEAT_EVERY:
                    node.heartbeat()
            except Exception as exc:  # noqa: BLE001 - retried at the next renewal
                LOG.warning("%s: lease/heartbeat failed: %s", node.name, exc)
        if time.monotonic() - last_heartbeat >= HEARTBEAT_EVERY:
            last_heartbeat = time.monotonic()
    LOG.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
