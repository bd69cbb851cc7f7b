"""The Flux double's Git sources and kustomize builds without a cluster: a real ``git http-backend`` on loopback,
real ``git`` and real ``kubectl kustomize``."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from localkube.fluxdouble import kustomize, sources
from services.gitserver import GitServer


def git(cwd, *args):
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=str(cwd),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, "git %s: %s" % (" ".join(args), out.stderr)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A repository on a loopback Git server: main with two commits (tag v1 on the first), branch other."""
    tmp = tmp_path_factory.mktemp("remote")
    with GitServer(root=str(tmp / "repos")) as server:
        work = tmp / "work"
        git(tmp, "init", "-q", "-b", "main", str(work))
        (work / "apps").mkdir()
        (work / "apps" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n")
        git(work, "add", ".")
        git(work, "commit", "-qm", "one")
        git(work, "tag", "v1")
        first = git(work, "rev-parse", "HEAD")
        (work / "apps" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n")
        git(work, "commit", "-qam", "two")
        second = git(work, "rev-parse", "HEAD")
        git(work, "branch", "other", first)
        git(work, "push", "-q", server.url(), "main", "other", "v1")
        yield {"url": server.url(), "first": first, "second": second, "work": work}


def test_revisions_follow_the_ref_like_source_controller(remote, tmp_path):
    arts = sources.GitArtifacts(tmp_path)
    assert arts.fetch("ns", "r", remote["url"], {"branch": "main"}) == ("main@sha1:%s" % remote["second"],
                                                                        remote["second"])
    assert arts.fetch("ns", "r", remote["url"], {"tag": "v1"})[0] == "v1@sha1:%s" % remote["first"]
    assert arts.fetch("ns", "r", remote["url"], {"commit": remote["first"]})[0] == "sha1:%s" % remote["first"]
    assert arts.fetch("ns", "r", remote["url"], {"branch": "main", "commit": remote["first"]})[0] == \
        "main@sha1:%s" % remote["first"]
    assert arts.fetch("ns", "r", remote["url"], {"name": "refs/heads/other"})[0] == "other@sha1:%s" % remote["first"]


def test_fetch_failures_name_the_url_and_the_ref(remote, tmp_path):
    arts = sources.GitArtifacts(tmp_path)
    with pytest.raises(sources.SourceError, match=r"unable to clone '.*/super-todo.git': couldn't find remote ref "
                                                  r"\"refs/heads/nope\""):
        arts.fetch("ns", "r", remote["url"], {"branch": "nope"})
    missing = remote["url"].replace("super-todo.git", "missing.git")
    with pytest.raises(sources.SourceError, match=r"failed to checkout and determine revision: unable to clone "
                                                  r"'%s'" % missing):
        arts.fetch("ns", "r2", missing, {"branch": "main"})
    with pytest.raises(sources.SourceError, match="is not on 'other'"):
        arts.fetch("ns", "r", remote["url"], {"branch": "other", "commit": remote["second"]})


def test_artifact_is_the_commit_and_its_digest_is_stable(remote, tmp_path):
    arts = sources.GitArtifacts(tmp_path)
    dummy, sha = arts.fetch("ns", "r", remote["url"], {"tag": "v1"})
    path, digest, size = arts.store("ns", "r", sha)
    assert path == "gitrepository/ns/r/%s.tar.gz" % sha and size > 0
    again = arts.store("ns", "r", sha)
    assert again[1] == digest
    out = arts.unpack({"path": path, "digest": digest}, tmp_path / "x")
    assert (out / "apps" / "cm.yaml").read_text().endswith("name: one\n")      # the tagged commit, not main
    assert not (out / ".git").exists()
    with pytest.raises(sources.SourceError, match="digest doesn't match"):
        arts.unpack({"path": path, "digest": "sha256:" + "0" * 64}, tmp_path / "y")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH (source tools/env.sh)")
def test_kustomization_is_generated_when_missing_and_built_with_kustomize(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n1\n")
    (tmp_path / "a" / "notes.yaml").write_text("just: data\n")               # not a manifest: left out
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\n")
    (tmp_path / "sub" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n")
    kustomize.generate({}, tmp_path)
    objs = kustomize.build(tmp_path)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objs) == [("ConfigMap", "c1"), ("Namespace", "n1")]
    kustomize.generate({"targetNamespace": "t1"}, tmp_path / "sub")          # written into the existing file
    objs = kustomize.build(tmp_path / "sub")
    assert [kustomize.entry_id(o) for o in objs] == ["t1_c1__ConfigMap"]
    (tmp_path / "sub" / "cm.yaml").write_text("kind: [")
    with pytest.raises(kustomize.BuildError, match="kustomize build failed"):
        kustomize.build(tmp_path)
