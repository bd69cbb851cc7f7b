"""Command line of ``tools/localcluster``: up | down | status | env | bootstrap | build."""

from __future__ import annotations

import argparse
import json
import sys

from localkube import LocalClusterError, build
from localkube.cluster import Cluster


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="localcluster",
        description="The project's local Kubernetes v1.20.2 control plane on loopback (state dir: "
                    "$SUPERTODO_CLUSTER_DIR or ~/.local/state/supertodo/localcluster/<checkout hash>).")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start etcd, the control plane, the CRDs and the doubles (idempotent)")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each readiness step")
    up.add_argument("--audit-log", metavar="PATH", default=None,
                    help="write the API server's audit log (JSON lines, level Metadata) to PATH; default: "
                         "$SUPERTODO_AUDIT_LOG, else no audit log")
    sub.add_parser("down", help="stop exactly the processes 'up' started and remove the state dir")
    st = sub.add_parser("status", help="what runs (exit 0 when the API is ready, 3 when not running)")
    st.add_argument("--json", action="store_true")
    sub.add_parser("env", help="print 'export KUBECONFIG=...'")
    bs = sub.add_parser("bootstrap", help="what 'flux bootstrap git' does, on the cluster's Git server: commit "
                                          "<path>/flux-system/ and apply GitRepository and Kustomization flux-system")
    bs.add_argument("--path", default="flux-cd/clusters/my-cluster", help="the cluster folder in the repository")
    bs.add_argument("--branch", default="main")
    bd = sub.add_parser("build", help="build and cache the control-plane binaries (skipped when cached)")
    bd.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            result = build.build(force=args.force)
            if result["built"]:
                print("built into %s in %.1fs (log: %s/build.log)" % (result["bin_dir"], result["seconds"],
                                                                      result["bin_dir"]))
            else:
                print("cached: %s (no build needed)" % result["bin_dir"])
            return 0
        cluster = Cluster(audit_log=getattr(args, "audit_log", None))
        if args.command == "up":
            cluster.up(timeout=args.timeout)
            print(cluster.env())
            return 0
        if args.command == "down":
            cluster.down()
            return 0
        if args.command == "env":
            print(cluster.env())
            return 0
        if args.command == "bootstrap":
            result = cluster.bootstrap(path=args.path, branch=args.branch)
            print("%s %s" % (result["url"], result["commit"]))
            return 0
        status = cluster.status()
        if args.json:
            print(json.dumps(status, indent=1))
        else:
            print("state dir: %s" % status["state_dir"])
            print("API: %s (https://127.0.0.1:%d)" % ("ready" if status["api_ready"] else "not ready",
                                                      status["ports"]["kube-apiserver"]))
            if not status["processes"]:
                print("processes: none recorded (cluster is down)")
            for name, p in status["processes"].items():
                print("  %-24s pid %-8d %s%s" % (name, p["pid"], "running" if p["running"] else "NOT RUNNING",
                                                 "  rss %d MiB" % (p["rss_kib"] // 1024) if p["running"] else ""))
            if status["processes"]:
                print("total rss: %d MiB" % (status["rss_kib_total"] // 1024))
            if status["git_url"]:
                print("git: %s" % status["git_url"])
            if status["kubeconfig"]:
                print(cluster.env())
        return 0 if status["api_ready"] else 3
    except LocalClusterError as exc:
        print("localcluster %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localcluster %s: interrupted (whatever this call started was stopped)" % args.command,
              file=sys.stderr)
        return 130
