"""The loopback Git server (tools/services/gitserver.py): real git clients push to and fetch from
``git http-backend`` over smart HTTP; the local cluster serves a seeded ``super-todo.git``."""

from __future__ import annotations

import subprocess

import pytest

from services.gitserver import GitServer


def git(cwd, *args):
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=str(cwd),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, "git %s: %s" % (" ".join(args), out.stderr)
    return out.stdout.strip()


def test_push_then_clone_and_fetch_over_smart_http(tmp_path):
    with GitServer(root=str(tmp_path / "repos")) as server:
        url = server.url()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/super-todo.git")
        work = tmp_path / "work"
        git(tmp_path, "init", "-q", "-b", "main", str(work))
        (work / "big.bin").write_bytes(bytes(range(256)) * 8192)   # 2 MiB: a chunked POST body
        git(work, "add", ".")
        git(work, "commit", "-qm", "one")
        git(work, "push", "-q", url, "main")
        first = git(work, "rev-parse", "HEAD")
        assert git(tmp_path, "ls-remote", url, "refs/heads/main").split()[0] == first
        git(tmp_path, "clone", "-q", url, str(tmp_path / "clone"))
        assert (tmp_path / "clone" / "big.bin").read_bytes() == (work / "big.bin").read_bytes()
        (work / "second.txt").write_text("2\n")
        git(work, "add", ".")
        git(work, "commit", "-qm", "two")
        git(work, "tag", "v1")
        git(work, "push", "-q", url, "main", "v1")
        git(tmp_path / "clone", "fetch", "-q", "--tags", "origin")
        assert git(tmp_path / "clone", "rev-parse", "origin/main") == git(work, "rev-parse", "HEAD") != first
        assert git(tmp_path / "clone", "rev-parse", "v1^{commit}") == git(work, "rev-parse", "HEAD")
        proc = server.proc
    assert proc.poll() is not None          # stopped by its PID when the block ended


def test_unknown_repository_is_a_404(tmp_path):
    with GitServer(root=str(tmp_path / "repos")) as server:
        out = subprocess.run(["git", "ls-remote", server.url("nope.git")], capture_output=True, text=True,
                             timeout=30, check=False)
    assert out.returncode != 0 and "not found" in out.stderr.lower()


@pytest.mark.cluster
def test_cluster_serves_a_seeded_repository(kube, tmp_path):
    assert kube.git_url == "http://127.0.0.1:%d/super-todo.git" % kube.cluster.info()["ports"]["git-server"]
    git(tmp_path, "clone", "-q", kube.git_url, str(tmp_path / "c"))
    for rel in ("charts/super-todo/Chart.yaml", "flux-cd/charts/super-todo/Chart.yaml"):
        assert (tmp_path / "c" / rel).is_file(), rel
