"""Git artifacts of the Flux double, as source-controller makes them: fetch ``spec.url`` with the git CLI, resolve
``spec.ref``, store the commit's files as a ``.tar.gz`` artifact (no ``.git``), and unpack an artifact for its
consumers (Kustomization, HelmChart) after checking its digest."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path


class SourceError(Exception):
    """The source cannot be fetched or its ref does not resolve (message as source-controller words it)."""


def _git(*args, cwd=None, timeout=120):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/true", LC_ALL="C")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _last_line(text):
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "git exited with an error"


def short_reference(reference):
    """What source-controller prints for a reference: the part after ``refs/<kind>/`` (fluxcd/pkg git.Commit)."""
    parts = reference.split("/", 2)
    return parts[2] if len(parts) == 3 else reference


class GitArtifacts:
    """Per GitRepository: a bare mirror under ``<root>/mirrors`` and artifacts under ``<root>/artifacts``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def mirror_dir(self, namespace, name):
        return self.root / "mirrors" / namespace / ("%s.git" % name)

    def artifact_file(self, rel_path):
        return self.root / "artifacts" / rel_path

    def fetch(self, namespace, name, url, ref):
        """Fetch ``url`` and resolve ``ref`` (a GitRepository ``spec.ref``); returns ``(revision, sha)``."""
        mirror = self.mirror_dir(namespace, name)
        if not (mirror / "HEAD").is_file():
            mirror.mkdir(parents=True, exist_ok=True)
            out = _git("init", "--quiet", "--bare", str(mirror))
            if out.returncode != 0:
                raise SourceError("failed to create the local mirror: %s" % _last_line(out.stderr))
        ref = ref or {}
        out = _git("-C", str(mirror), "fetch", "--quiet", "--prune", "--force", "--no-tags", url,
                   "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
        if out.returncode != 0:
            raise SourceError("failed to checkout and determine revision: unable to clone '%s': %s"
                              % (url, _last_line(out.stderr)))
        if ref.get("name"):
            reference = ref["name"]
        elif ref.get("semver"):
            raise SourceError("semver ref '%s' is not supported by the local Flux double" % ref["semver"])
        elif ref.get("tag"):
            reference = "refs/tags/%s" % ref["tag"]
        elif ref.get("branch"):
            reference = "refs/heads/%s" % ref["branch"]
        elif ref.get("commit"):
            reference = ""
        else:
            reference = "refs/heads/master"        # source-controller's default ref
        if reference:
            tip = _git("-C", str(mirror), "rev-parse", "--verify", "--quiet", reference + "^{commit}")
            if tip.returncode != 0:
                raise SourceError("failed to checkout and determine revision: unable to clone '%s': couldn't "
                                  "find remote ref \"%s\"" % (url, reference))
            sha = tip.stdout.strip()
        if ref.get("commit"):
            found = _git("-C", str(mirror), "rev-parse", "--verify", "--quiet", ref["commit"] + "^{commit}")
            if found.returncode != 0:
                raise SourceError("failed to checkout and determine revision: unable to clone '%s': object not "
                                  "found: commit '%s'" % (url, ref["commit"]))
            sha = found.stdout.strip()
            if reference and _git("-C", str(mirror), "merge-base", "--is-ancestor", sha,
                                  reference).returncode != 0:
                raise SourceError("failed to checkout and determine revision: commit '%s' is not on '%s' of '%s'"
                                  % (ref["commit"], short_reference(reference), url))
        revision = "%s@sha1:%s" % (short_reference(reference), sha) if reference else "sha1:%s" % sha
        return revision, sha

    def store(self, namespace, name, sha):
        """Write the artifact of commit ``sha`` (a gzipped tar of its tree); returns ``(rel_path, digest, size)``.
        The bytes depend only on the commit, so an unchanged commit gives the same digest."""
        rel = "gitrepository/%s/%s/%s.tar.gz" % (namespace, name, sha)
        path = self.artifact_file(rel)
        if not path.is_file():
            out = subprocess.run(["git", "-C", str(self.mirror_dir(namespace, name)), "archive", "--format=tar",
                                  sha], capture_output=True, check=False, timeout=120)
            if out.returncode != 0:
                raise SourceError("failed to archive commit %s: %s" % (sha, _last_line(out.stderr.decode())))
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
                gz.write(out.stdout)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(buf.getvalue())
            tmp.replace(path)
            self._garbage_collect(path.parent, keep=path.name)
        data = path.read_bytes()
        return rel, "sha256:" + hashlib.sha256(data).hexdigest(), len(data)

    @staticmethod
    def _garbage_collect(folder, keep, records=2):
        """Keep the newest ``records`` artifacts of a source (source-controller's --artifact-retention-records)."""
        files = sorted((p for p in folder.glob("*.tar.gz") if p.name != keep), key=lambda p: p.stat().st_mtime,
                       reverse=True)
        for old in files[records - 1:]:
            old.unlink(missing_ok=True)

    def unpack(self, artifact, dest):
        """Unpack a source artifact (``status.artifact``) into ``dest`` after checking its digest."""
        path = self.artifact_file(artifact.get("path", ""))
        if not path.is_file():
            raise SourceError("artifact not found: %s" % artifact.get("path"))
        data = path.read_bytes()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if artifact.get("digest") and artifact["digest"] != digest:
            raise SourceError("failed to verify artifact: computed digest doesn't match '%s'" % artifact["digest"])
        Path(dest).mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                target = os.path.realpath(os.path.join(dest, member.name))
                if not target.startswith(os.path.realpath(dest)):
                    raise SourceError("artifact %s has an entry outside its root: %s" % (artifact.get("path"),
                                                                                         member.name))
            try:
                tar.extractall(dest, filter="data")
            except TypeError:          # Python without extraction filters
                tar.extractall(dest)
        return Path(dest)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
