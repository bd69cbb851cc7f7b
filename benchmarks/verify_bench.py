"""Benchmark: the verify role's read of an environment against ``kubectl get`` of the same kinds, same run.

Applies the small staging-shaped environment of tests/integration/verify/files/environment.yml to a namespace of
its own (kept between runs unless --cleanup), then measures, N times each (median):

- ``kubectl get`` of the same kinds in one command (the peer): one process, one discovery, one LIST per kind;
- the reader of ``supertodo.platform.k8s_objects_info`` in this process (module code, no Ansible);
- the ``k8s_objects_info`` task as Ansible runs it (profile_tasks of a one-task playbook);
- the old read, one ``kubernetes.core.k8s_info`` task per kind (profile_tasks of one looped task);
- the whole verify role inside ``playbooks/verify.yml`` (profile_tasks: the sum of the role's tasks; the producing
  roles that run before it and Ansible's start-up are not counted), and the playbook's wall clock.

Run (cluster up, e.g. ``tools/localcluster up && eval "$(tools/localcluster env)"``):
    python benchmarks/verify_bench.py [--repeats 3] [--namespace verify-bench] [--cleanup]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / ".collections"), str(REPO / "benchmarks")]

import machine  # noqa: E402

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient  # noqa: E402
from ansible_collections.supertodo.platform.plugins.module_utils.kube.objects import read_objects  # noqa: E402

# what the verify role reads (roles/verify/vars/main.yml __verify_resources), as kubectl names them
KINDS = [
    ("v1", "Namespace", "namespaces"),
    ("apps/v1", "Deployment", "deployments.apps"),
    ("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers.autoscaling"),
    ("networking.k8s.io/v1", "Ingress", "ingresses.networking.k8s.io"),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies.networking.k8s.io"),
    ("v1", "ConfigMap", "configmaps"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases.helm.toolkit.fluxcd.io"),
    ("postgresql.cnpg.io/v1", "Cluster", "clusters.postgresql.cnpg.io"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup", "scheduledbackups.postgresql.cnpg.io"),
    ("barmancloud.cnpg.io/v1", "ObjectStore", "objectstores.barmancloud.cnpg.io"),
    ("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors.monitoring.coreos.com"),
    ("monitoring.coreos.com/v1", "PodMonitor", "podmonitors.monitoring.coreos.com"),
]
_PROFILE_LINE = re.compile(r"^(?P<name>.+?) -+ (?P<secs>[0-9.]+)s$")


def _env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"
    return env


def _run(argv, check=True):
    proc = subprocess.run(argv, cwd=str(REPO), env=_env(), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (" ".join(argv), proc.stdout[-3000:], proc.stderr[-2000:]))
    return proc


def _profile(stdout):
    """{task name: seconds} from the profile_tasks recap."""
    out = {}
    for line in stdout.split("TASKS RECAP", 1)[-1].splitlines():
        match = _PROFILE_LINE.match(line.strip())
        if match:
            out[match.group("name").strip()] = float(match.group("secs"))
    return out


def _served(kubeconfig):
    """The kinds the API server serves (kubectl get fails on the whole command for one unknown kind)."""
    client = KubeClient({"kubeconfig": kubeconfig})
    served = []
    for api_version, kind, plural in KINDS:
        try:
            client.resource(api_version, kind)
            served.append((api_version, kind, plural))
        except Exception:  # noqa: BLE001 - not served: left out of both sides
            pass
    return served


def _playbook(path, text):
    path.write_text(text)
    return str(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument("--namespace", default="verify-bench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cleanup", action="store_true", help="delete the namespace at the end")
    args = parser.parse_args()
    if not args.kubeconfig:
        raise SystemExit("set KUBECONFIG or --kubeconfig (tools/localcluster env)")
    os.environ["KUBECONFIG"] = args.kubeconfig
    machine.print_info(args.kubeconfig)
    ns = args.namespace
    _run(["ansible-playbook", "tests/integration/verify/files/environment.yml", "-e", "verify_test_namespace=%s" % ns])
    served = _served(args.kubeconfig)
    print("kinds read: %d of %d served (%s not served: left out of both sides)" % (
        len(served), len(KINDS), ", ".join(entry[1] for entry in KINDS if entry not in served) or "none"))

    tmp = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    resources = [{"api_version": a, "kind": k, **({"name": ns} if k == "Namespace" else {})} for a, k, dummy in served]
    one_task = _playbook(tmp / "one.yml", json.dumps([{
        "name": "ours", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "ours", "supertodo.platform.k8s_objects_info": {
                "kubeconfig": args.kubeconfig, "namespace": ns, "resources": resources}}]}]))
    per_kind = _playbook(tmp / "per_kind.yml", json.dumps([{
        "name": "old", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "old", "kubernetes.core.k8s_info": {
                "kubeconfig": args.kubeconfig, "api_version": "{{ item.api_version }}", "kind": "{{ item.kind }}",
                "namespace": "{{ omit if item.kind == 'Namespace' else '%s' }}" % ns,
                "name": "{{ '%s' if item.kind == 'Namespace' else omit }}" % ns},
            "loop": resources}]}]))
    kubectl = ["kubectl", "--kubeconfig", args.kubeconfig, "-n", ns, "get",
               ",".join(entry[2] for entry in served if entry[1] != "Namespace"), "-o", "json"]
    kubectl_ns = ["kubectl", "--kubeconfig", args.kubeconfig, "get", "namespace", ns, "-o", "json"]
    figures = {k: [] for k in ("kubectl", "in-process", "task", "old", "role", "playbook")}
    role_tasks = {}
    client_kwargs = {"kubeconfig": args.kubeconfig}
    for dummy in range(args.repeats):
        start = time.monotonic()
        _run(kubectl)
        _run(kubectl_ns)
        figures["kubectl"].append(time.monotonic() - start)
        start = time.monotonic()
        read_objects(KubeClient(client_kwargs), resources, ns)
        figures["in-process"].append(time.monotonic() - start)
        figures["task"].append(_profile(_run(["ansible-playbook", one_task]).stdout)["ours"])
        figures["old"].append(_profile(_run(["ansible-playbook", per_kind]).stdout)["old"])
        start = time.monotonic()
        proc = _run(["ansible-playbook", "-i", "inventories/staging", "playbooks/verify.yml",
                     "-e", "supertodo_namespace=%s" % ns, "-e", "verify_promotion_namespace=%s" % ns,
                     "-e", "verify_report_dir=%s" % (tmp / "report"), "-e", "verify_fail_when_not_ready=false",
                     "-e", "@tests/integration/verify/files/wanted.yml"])
        figures["playbook"].append(time.monotonic() - start)
        tasks = {name: secs for name, secs in _profile(proc.stdout).items() if name.startswith("supertodo.platform.verify :")}
        figures["role"].append(sum(tasks.values()))
        for name, secs in tasks.items():
            role_tasks.setdefault(name, []).append(secs)
    med = {k: statistics.median(v) for k, v in figures.items()}
    base = med["kubectl"]
    print("%-80s %8s %9s" % ("measurement (median of %d)" % args.repeats, "seconds", "x kubectl"))
    rows = [
        ("kubectl get of the same kinds (2 commands: namespaced kinds, the Namespace)", "kubectl"),
        ("ours: k8s_objects_info reader in-process (module code, no Ansible)", "in-process"),
        ("ours: the k8s_objects_info task (profile_tasks)", "task"),
        ("before: one kubernetes.core.k8s_info task per kind (profile_tasks)", "old"),
        ("ours: the verify role's tasks in playbooks/verify.yml (profile_tasks)", "role"),
        ("playbooks/verify.yml wall clock (Ansible start-up, producing roles, verify)", "playbook"),
    ]
    for label, key in rows:
        print("%-80s %8.3f %9.2f" % (label, med[key], med[key] / base if base else float("nan")))
    print("goal: the verify role <= 1 s on the local cluster: %s (%.3f s)"
          % ("met" if med["role"] <= 1.0 else "NOT met", med["role"]))
    print("the verify role's tasks (median seconds):")
    for name, values in sorted(role_tasks.items(), key=lambda item: -statistics.median(item[1])):
        print("  %-78s %8.3f" % (name.split(" : ", 1)[1][:78], statistics.median(values)))
    if args.cleanup:
        _run(["kubectl", "--kubeconfig", args.kubeconfig, "delete", "namespace", ns, "--wait=false"], check=False)


if __name__ == "__main__":
    main()
