"""Build kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 once from Debian's source package.

Steps (each skipped when already done): a ``deb-src`` stanza for bookworm, ``apt-get source kubernetes`` in a
build tree under the user's cache dir, the vendored github.com/modern-go/reflect2 1.0.1 (which crashes under
Go >= 1.18) replaced with Debian's golang-github-modern-go-reflect2-dev sources, ``go build`` of the three
commands only (stripped, static), install into ``<cache>/kubernetes/v1.20.2/``, delete the build tree.

Every build that runs appends one JSON line to ``builds.jsonl`` next to the binaries (with its timings), and
writes ``build.log``: tests compare the number of lines to prove that a later ``up`` did not build.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from localkube import KUBE_VERSION, LocalClusterError
from localkube import paths

COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
GO = Path("/usr/lib/go-1.19/bin/go")
REFLECT2_SRC = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")
OUR_SOURCES = APT_SOURCES_DIR / "supertodo-bookworm-src.sources"
DEB_SRC_STANZA = """\
# Added by supertodo.platform tools/localcluster: source packages, to build Kubernetes v1.20.2.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
HINT = "run tools/setup (it installs golang-1.19-go, golang-github-modern-go-reflect2-dev and dpkg-dev)"


def binaries(version: str = KUBE_VERSION) -> dict:
    return {name: paths.bin_dir(version) / name for name in COMMANDS}


def is_built(version: str = KUBE_VERSION) -> bool:
    return all(p.is_file() and os.access(p, os.X_OK) for p in binaries(version).values())


def build_history(version: str = KUBE_VERSION) -> list:
    """Every build that ran for this version, oldest first (one dict per build)."""
    path = paths.bin_dir(version) / "builds.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _sudo() -> list:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


class _Log:
    """The build log: every command and its output, with step timings."""

    def __init__(self, path: Path, echo):
        self.path = path
        self.fh = path.open("w")
        self.echo = echo
        self.timings = {}

    def say(self, msg):
        line = "[localcluster build] %s" % msg
        self.fh.write(line + "\n")
        self.fh.flush()
        if self.echo:
            print(line, file=sys.stderr, flush=True)

    def run(self, argv, what, cwd=None, env=None):
        self.say("$ %s" % " ".join(str(a) for a in argv))
        try:
            proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdout=self.fh,
                                  stderr=subprocess.STDOUT, check=False)
        except OSError as exc:
            raise LocalClusterError("%s failed: cannot run %s (%s); %s" % (what, argv[0], exc, HINT)) from exc
        if proc.returncode != 0:
            self.fh.flush()
            lines = [l for l in self.path.read_text(errors="replace").splitlines()
                     if not l.startswith("[localcluster build]")][-12:]
            shutil.copyfile(self.path, self.path.with_name("build-failed.log"))
            raise LocalClusterError("%s failed (exit %d); last lines of the build log %s:\n%s" % (
                what, proc.returncode, self.path.with_name("build-failed.log"), "\n".join(lines)))

    @contextlib.contextmanager
    def step(self, name):
        start = time.monotonic()
        self.say("step %s" % name)
        yield
        self.timings[name] = round(time.monotonic() - start, 1)
        self.say("step %s done in %.1fs" % (name, self.timings[name]))


def _has_deb_src() -> bool:
    files = [Path("/etc/apt/sources.list")] + sorted(APT_SOURCES_DIR.glob("*.list")) + sorted(
        APT_SOURCES_DIR.glob("*.sources"))
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("deb-src ") and " bookworm " in line + " ":
                return True
        for stanza in text.split("\n\n"):
            fields = dict(l.split(":", 1) for l in stanza.splitlines() if ":" in l and not l.startswith("#"))
            types = fields.get("Types", "").split()
            suites = fields.get("Suites", "").split()
            enabled = fields.get("Enabled", "yes").strip().lower() != "no"
            if enabled and "deb-src" in types and "bookworm" in suites:
                return True
    return False


def _ensure_deb_src(log: _Log):
    if _has_deb_src():
        log.say("a deb-src source for bookworm is configured")
        return False
    log.say("adding %s" % OUR_SOURCES)
    if os.geteuid() == 0:
        OUR_SOURCES.write_text(DEB_SRC_STANZA)
    else:
        proc = subprocess.run(_sudo() + ["tee", str(OUR_SOURCES)], input=DEB_SRC_STANZA, text=True,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise LocalClusterError("cannot add the deb-src source %s (needs root): %s" % (
                OUR_SOURCES, proc.stderr.strip()))
    return True


def _source_available() -> bool:
    proc = subprocess.run(["apt-cache", "showsrc", "kubernetes"], capture_output=True, text=True, check=False)
    return proc.returncode == 0 and "Package: kubernetes" in proc.stdout


def _replace_reflect2(src: Path, log: _Log):
    vendored = src / "vendor" / "github.com" / "modern-go" / "reflect2"
    if not vendored.is_dir():
        raise LocalClusterError("the Debian source tree %s has no vendored modern-go/reflect2" % src)
    if not (REFLECT2_SRC / "reflect2.go").is_file():
        raise LocalClusterError("Debian's reflect2 sources are missing at %s; %s" % (REFLECT2_SRC, HINT))
    for f in vendored.iterdir():
        if f.suffix == ".go" or f.suffix == ".s":
            f.unlink()
    copied = []
    for f in sorted(REFLECT2_SRC.iterdir()):
        if f.suffix in (".go", ".s") and not f.name.endswith("_test.go"):
            shutil.copyfile(f, vendored / f.name)
            copied.append(f.name)
    log.say("replaced vendor/github.com/modern-go/reflect2 with %s: %s" % (REFLECT2_SRC, ", ".join(copied)))


@contextlib.contextmanager
def _lock():
    root = paths.cache_root() / "kubernetes"
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(version: str = KUBE_VERSION, force: bool = False, echo: bool = True) -> dict:
    """Build and cache the three binaries unless they are cached. Returns {"built": bool, ...timings}."""
    with _lock():
        if is_built(version) and not force:
            return {"built": False, "bin_dir": str(paths.bin_dir(version))}
        for tool, hint in ((GO, HINT), (Path("/usr/bin/dpkg-source"), HINT)):
            if not tool.exists():
                raise LocalClusterError("cannot build Kubernetes %s: %s is missing; %s" % (version, tool, hint))
        out = paths.bin_dir(version)
        out.mkdir(parents=True, exist_ok=True)
        tree = paths.build_root() / ("kubernetes-%s" % version)
        if tree.exists():
            shutil.rmtree(tree)
        tree.mkdir(parents=True)
        log = _Log(out / "build.log", echo)
        started = time.monotonic()
        record = {"version": version, "started": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        try:
            with log.step("apt-source"):
                added = _ensure_deb_src(log)
                if added or not _source_available():
                    log.run(_sudo() + ["apt-get", "update", "-q"], "apt-get update")
                if not _source_available():
                    raise LocalClusterError(
                        "the Debian source package 'kubernetes' is not available from apt (apt-cache showsrc "
                        "kubernetes found nothing); check the deb-src entry %s and network access to "
                        "deb.debian.org, then run 'tools/localcluster build' again" % OUR_SOURCES)
                log.run(["apt-get", "source", "-q", "kubernetes"], "apt-get source kubernetes", cwd=tree)
            srcs = [d for d in tree.iterdir() if d.is_dir() and d.name.startswith("kubernetes-")]
            if len(srcs) != 1:
                raise LocalClusterError("apt-get source kubernetes did not unpack one source tree in %s" % tree)
            src = srcs[0]
            record["source"] = src.name
            _replace_reflect2(src, log)
            # Kubernetes 1.20's own build (hack/lib/golang.sh, as Debian's debian/rules runs it): GOPATH mode
            # with the vendor/ tree, and the generated OpenAPI definitions the apiserver needs (not shipped in
            # the source package) are generated first. Only the three commands are built.
            env = dict(os.environ, PATH="%s:%s" % (GO.parent, os.environ.get("PATH", "")), GOFLAGS="",
                       GOPROXY="off", GOTOOLCHAIN="local", CGO_ENABLED="0", GOLDFLAGS="-s -w",
                       KUBE_GIT_VERSION=version, KUBE_GIT_MAJOR=version.lstrip("v").split(".")[0],
                       KUBE_GIT_MINOR=version.split(".")[1], KUBE_GIT_TREE_STATE="clean",
                       KUBE_BUILD_PLATFORMS="linux/amd64", HOME=str(tree / "home"))
            env.pop("GOROOT", None)
            (tree / "home").mkdir()
            with log.step("go-build"):
                log.run([GO, "version"], "go version", cwd=src, env=env)
                log.run(["make", "WHAT=%s" % " ".join("cmd/%s" % c for c in COMMANDS)],
                        "make (generated files and go build) of %s" % ", ".join(COMMANDS), cwd=src, env=env)
            # hack/lib/golang.sh puts host-platform binaries in _output/local/go/bin (_output/bin links there)
            outs = [src / "_output" / "local" / "go" / "bin", src / "_output" / "local" / "bin" / "linux" / "amd64"]
            built_dir = next((d for d in outs if all((d / c).is_file() for c in COMMANDS)), None)
            if built_dir is None:
                raise LocalClusterError("make finished but did not produce %s under %s/_output; see %s" % (
                    ", ".join(COMMANDS), src, log.path))
            for name in COMMANDS:
                built = built_dir / name
                tmp = out / (name + ".new")
                shutil.copyfile(built, tmp)
                tmp.chmod(0o755)
                tmp.replace(out / name)
            record.update(seconds=round(time.monotonic() - started, 1), steps=log.timings,
                          sizes={n: (out / n).stat().st_size for n in COMMANDS})
            with (out / "builds.jsonl").open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            log.say("built %s in %.1fs into %s" % (", ".join(COMMANDS), record["seconds"], out))
        finally:
            shutil.rmtree(tree, ignore_errors=True)
            log.fh.close()
        record["built"] = True
        record["bin_dir"] = str(out)
        return record
