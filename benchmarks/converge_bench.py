"""Benchmark (not a test): converge of production on the local cluster vs ``kubectl apply --server-side`` of the
same objects, and the API requests per object of a no-op apply, counted from the API server's audit log.

Starts its own local cluster (tools/localkube) in a temporary state dir with the audit log on, and stops it at the
end. The production secrets come from tools/local-secrets and the extra vars are those of tools/converge (the
local cluster serves Kubernetes 1.20). The objects are the delivery step's manifest list, written by
benchmarks/manifests.yml (the same roles as site.yml, Secrets included), so that kubectl applies exactly what our
apply step applies, in the same order, with the same field manager.

Lines (each: baseline, ours, ratio; medians of --repeats runs):
  first converge   site.yml without reconcile/verify on an empty namespace  vs kubectl apply --server-side
  no-op converge   the same, second run                                       vs kubectl apply --server-side again
  no-op delivery   benchmarks/delivery.yml (Ansible start-up + the delivery role's one manifest_apply task)
  no-op apply      the module's code in this process (validation + apply, no Ansible)
  start-up         ansible-playbook of one debug task (benchmarks/startup.yml): Ansible's fixed cost
  full site.yml    first and no-op, with reconcile (waits for every HelmRelease) and verify (the report)
  API requests     per object of a no-op apply (ours in-process, and kubectl), by verb and resource
  three peers      the same objects applied by kubectl, by ONE kubernetes.core.k8s task (benchmarks/k8s_one_task.yml,
                   server-side apply) and by ours: the delivery step alone and the full no-op site.yml (apply,
                   reconcile only when something changed, the verify report); goal: full no-op <= 1.5x the k8s task

    source tools/env.sh && python benchmarks/converge_bench.py [--repeats 3] [--state-dir DIR] [--keep-cluster]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / ".collections"), str(REPO / "tools"), str(Path(__file__).resolve().parent)]

import machine  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import order  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.service import apply_manifests  # noqa: E402
from localkube.cluster import Cluster  # noqa: E402

ENVIRONMENT = "production"
# as tools/converge: none (the environment role reads the 1.20 cluster's version and CronJob apiVersion from it)
EXTRA_VARS = []
FIELD_MANAGER = "supertodo.platform"
BENCH_AGENT = "supertodo-converge-bench"


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.audit_log = work / "audit.log"
        self.cluster = Cluster(state_dir=args.state_dir or work / "cluster", audit_log=self.audit_log, echo=True)
        self.manifests_file = work / "manifests.json"
        self.list_file = work / "objects.json"
        self.env = None

    # -- set-up ------------------------------------------------------------------------------------------
    def up(self):
        self.cluster.up(timeout=300)
        recorded = self.cluster.info().get("audit_log")     # a reused cluster (--state-dir) keeps its own
        if not recorded:
            raise SystemExit("the cluster in %s runs without an audit log: stop it or use another --state-dir"
                             % self.cluster.state)
        self.audit_log = Path(recorded)
        # the discovery cache of the apply step lives in the work dir: it starts cold and is the benchmark's own
        os.environ["SUPERTODO_DISCOVERY_CACHE_DIR"] = str(self.work / "discovery")
        env = dict(os.environ, KUBECONFIG=str(self.cluster.kubeconfig), ANSIBLE_NOCOLOR="1",
                   SUPERTODO_VERIFY_REPORT_DIR=str(self.work / "verify"))
        # as `eval "$(localcluster env)"`: the app chart's GitRepository (apply mode) reads this cluster's Git server
        if self.cluster.git_url():
            env["SUPERTODO_GIT_URL"] = self.cluster.git_url()
        out = subprocess.run([str(REPO / "tools" / "local-secrets"), ENVIRONMENT], env=env, capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            name, dummy, value = line.removeprefix("export ").partition("=")
            env[name] = value
        self.env = env

    def playbook(self, playbook, *extra):
        argv = ["ansible-playbook", "-i", "inventories/%s" % ENVIRONMENT, playbook, *EXTRA_VARS, *extra]
        with machine.Timed() as timed:
            out = subprocess.run(argv, cwd=REPO, env=self.env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit("%s failed (exit %d):\n%s" % (" ".join(argv), out.returncode, out.stdout[-4000:]))
        return (timed.wall, timed.cpu), out.stdout

    def write_objects(self):
        self.playbook("benchmarks/manifests.yml", "-e", "bench_manifests_file=%s" % self.manifests_file)
        entries = json.loads(self.manifests_file.read_text())
        items = [e["object"] for e in order(entries)]
        fd = os.open(str(self.list_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, fh)
        return entries

    # -- the two applies -----------------------------------------------------------------------------------
    def kubectl(self, *args, check=True):
        return subprocess.run(["kubectl", "--kubeconfig", str(self.cluster.kubeconfig), *args], env=self.env,
                              capture_output=True, text=True, check=check)

    def kubectl_apply(self):
        with machine.Timed() as timed:
            self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", FIELD_MANAGER,
                         "-f", str(self.list_file))
        return timed.wall, timed.cpu

    def k8s_one_task(self):
        """kubernetes.core.k8s, one task for the whole List (server-side apply, our field manager)."""
        return self.playbook("benchmarks/k8s_one_task.yml", "-e", "bench_list_file=%s" % self.list_file,
                             "-e", "bench_field_manager=%s" % FIELD_MANAGER)[0]

    def apply_in_process(self, entries, discovery_cache=True):
        params = {"manifests": entries, "schema_dir": os.environ.get("SUPERTODO_SCHEMA_DIR"),
                  "charts": {"super-todo": str(REPO / "charts" / "super-todo")}, "kubernetes_version": "1.20.2",
                  "field_manager": FIELD_MANAGER, "kubeconfig": str(self.cluster.kubeconfig)}
        cache_dir = os.environ["SUPERTODO_DISCOVERY_CACHE_DIR"]
        if not discovery_cache:
            os.environ["SUPERTODO_DISCOVERY_CACHE_DIR"] = "off"
        with machine.Timed() as timed:
            client = KubeClient(params)
            client.api.user_agent = BENCH_AGENT     # so the audit log tells these requests from the doubles'
            result = apply_manifests(params, client=client)
        os.environ["SUPERTODO_DISCOVERY_CACHE_DIR"] = cache_dir
        return (timed.wall, timed.cpu), result

    def reset(self, entries, timeout=300):
        """Delete every object of the list and wait until the namespace is gone (an empty environment again)."""
        self.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(self.list_file))
        namespaces = [e["object"]["metadata"]["name"] for e in entries if e["object"]["kind"] == "Namespace"]
        deadline = time.monotonic() + timeout
        while True:
            left = [n for n in namespaces if self.kubectl("get", "namespace", n, check=False).returncode == 0]
            if not left:
                return
            if time.monotonic() > deadline:
                raise SystemExit("namespaces %s still there %ds after the delete" % (", ".join(left), timeout))
            time.sleep(0.5)

    # -- audit log -----------------------------------------------------------------------------------------
    def audit_mark(self):
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit_since(self, mark, agent_prefix):
        """(verb, resource) counts of the requests logged after ``mark`` whose user agent starts with the prefix."""
        time.sleep(1.0)     # the last ResponseComplete events are written just after the responses
        counts = collections.Counter()
        with self.audit_log.open("rb") as fh:
            fh.seek(mark)
            for line in fh:
                event = json.loads(line)
                if event.get("stage") != "ResponseComplete" or not event.get("userAgent", "").startswith(agent_prefix):
                    continue
                ref = event.get("objectRef") or {}
                resource = ref.get("resource") or "discovery %s" % event["requestURI"].split("?")[0]
                counts[(event["verb"], resource)] += 1
        return counts


def median(runs):
    """Medians of (wall, cpu) pairs."""
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def line(label, baseline, ours, goal=None):
    """One row: wall-clock baseline, ours, ratio, then the same for CPU seconds."""
    ratio = ours[0] / baseline[0]
    verdict = ""
    if goal is not None:
        verdict = "goal <= %.0fx: %s" % (goal, "met" if ratio <= goal else "NOT met")
    print("%-46s %8.2fs %8.2fs %7.1fx | %7.2fs %7.2fs %6.1fx  %s" % (
        label, baseline[0], ours[0], ratio, baseline[1], ours[1], ours[1] / baseline[1], verdict), flush=True)
    return ratio


def print_counts(label, counts, objects):
    total = sum(counts.values())
    print("%s: %d requests for %d objects = %.2f per object" % (label, total, objects, total / objects))
    for (verb, resource), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print("    %4d  %-6s %s" % (n, verb, resource))
    return total / objects


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (the median is printed)")
    parser.add_argument("--state-dir", type=Path, help="cluster state dir (default: in a temporary directory)")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster running at the end")
    parser.add_argument("--skip-full", action="store_true", help="skip the full site.yml (reconcile + verify) lines")
    args = parser.parse_args()
    if not os.environ.get("SUPERTODO_SCHEMA_DIR"):
        parser.error("SUPERTODO_SCHEMA_DIR is not set: run `source tools/env.sh` first")
    work = Path(tempfile.mkdtemp(prefix="converge-bench-"))
    bench = Bench(args, work)
    n = args.repeats
    try:
        bench.up()
        machine.print_info(bench.cluster.kubeconfig)
        rows = {}
        full_first = full_noop = None
        if not args.skip_full:
            # the cluster is empty: the one first converge of the whole site.yml (it waits for the HelmReleases)
            full_first, dummy = bench.playbook("playbooks/site.yml")
            full_noop = median([bench.playbook("playbooks/site.yml")[0] for dummy in range(n)])
        entries = bench.write_objects()
        objects = len(entries)
        print("objects in the manifest list: %d (%d kinds)" % (
            objects, len({(e["object"]["apiVersion"], e["object"]["kind"]) for e in entries})), flush=True)
        ours_first, kube_first = [], []
        ours_noop, delivery_noop, inproc_noop, kube_noop = [], [], [], []
        k8s_first, k8s_noop = [], []
        ours_counts = kube_counts = cold_counts = None
        startup = [bench.playbook("benchmarks/startup.yml")[0] for dummy in range(n)]
        for i in range(n):
            bench.reset(entries)
            ours_first.append(bench.playbook("playbooks/site.yml", "--skip-tags", "reconcile,verify")[0])
            if i == 0:
                ours_noop = [bench.playbook("playbooks/site.yml", "--skip-tags", "reconcile,verify")[0]
                             for dummy in range(n)]
                delivery_noop = [bench.playbook("benchmarks/delivery.yml",
                                                "-e", "bench_manifests_file=%s" % bench.manifests_file)[0]
                                 for dummy in range(n)]
                mark = bench.audit_mark()
                dummy, result = bench.apply_in_process(entries, discovery_cache=False)
                cold_counts = bench.audit_since(mark, BENCH_AGENT)
                for dummy in range(n):
                    mark = bench.audit_mark()
                    seconds, result = bench.apply_in_process(entries)
                    if result["changed"]:
                        raise SystemExit("the in-process apply changed objects on a no-op: %s" % result["counts"])
                    inproc_noop.append(seconds)
                    ours_counts = bench.audit_since(mark, BENCH_AGENT)
                    rows["client-side count"] = result["requests"]
            bench.reset(entries)
            k8s_first.append(bench.k8s_one_task())
            if i == 0:
                k8s_noop = [bench.k8s_one_task() for dummy in range(n)]
            bench.reset(entries)
            kube_first.append(bench.kubectl_apply())
            if i == 0:
                for dummy in range(n):
                    mark = bench.audit_mark()
                    kube_noop.append(bench.kubectl_apply())
                    kube_counts = bench.audit_since(mark, "kubectl")
        print()
        print("converge of %s, %d objects, medians of %d runs" % (ENVIRONMENT, objects, n))
        print("%-46s %9s %9s %8s | %8s %8s %7s" % ("", "kubectl", "ours", "ratio", "cpu kctl", "cpu ours",
                                                   "ratio"))
        line("first converge (site.yml -reconcile -verify)", median(kube_first), median(ours_first))
        line("no-op converge (site.yml -reconcile -verify)", median(kube_noop), median(ours_noop), goal=3)
        line("no-op delivery step (ansible-playbook)", median(kube_noop), median(delivery_noop))
        line("no-op apply (module code, no Ansible)", median(kube_noop), median(inproc_noop))
        line("ansible-playbook start-up (one task)", median(kube_noop), median(startup))
        if full_first is not None:
            line("first converge, full site.yml (1 run)", median(kube_first), full_first)
            line("no-op converge, full site.yml", median(kube_noop), full_noop)
        print()
        print("the same %d objects, three peers (medians of %d runs)" % (objects, n))
        print("%-46s %9s %9s %9s %8s" % ("", "kubectl", "k8s task", "ours", "ours/k8s"))
        peers = [("first apply (ours: site.yml -reconcile -verify)", kube_first, k8s_first, ours_first),
                 ("no-op apply (ours: the delivery step)", kube_noop, k8s_noop, delivery_noop),
                 ("no-op apply (ours: site.yml -reconcile -verify)", kube_noop, k8s_noop, ours_noop)]
        if full_noop is not None:
            peers.append(("no-op converge (ours: full site.yml)", kube_noop, k8s_noop, [full_noop]))
        for label, kube, k8s, ours in peers:
            ratio = median(ours)[0] / median(k8s)[0]
            goal = ""
            if label.startswith("no-op converge"):
                goal = "goal <= 1.5x: %s" % ("met" if ratio <= 1.5 else "NOT met")
            figures = (label, median(kube)[0], median(k8s)[0], median(ours)[0], ratio, goal)
            print("%-46s %8.2fs %8.2fs %8.2fs %7.1fx  %s" % figures, flush=True)
        print()
        print_counts("API requests, no-op apply, ours without the discovery cache (audit log)", cold_counts, objects)
        ours_per = print_counts("API requests, no-op apply, ours (audit log)", ours_counts, objects)
        print("    (the module's own count: %d)" % rows["client-side count"])
        kube_per = print_counts("API requests, no-op apply, kubectl apply --server-side (audit log)", kube_counts,
                                objects)
        print("%-44s %9.2f  %9.2f  %7.2fx  goal ours <= 2 per object: %s" % (
            "API requests per object (no-op)", kube_per, ours_per, ours_per / kube_per,
            "met" if ours_per <= 2 else "NOT met"))
        return 0
    finally:
        if not args.keep_cluster:
            bench.cluster.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
