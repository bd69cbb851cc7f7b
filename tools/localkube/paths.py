"""Where things live: the binary cache (per user, keyed by version) and the state dir (per checkout)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from localkube import KUBE_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supertodo"


def bin_dir(version: str = KUBE_VERSION) -> Path:
    """The cached control-plane binaries of one Kubernetes version."""
    return cache_root() / "kubernetes" / version


def build_root() -> Path:
    """The build tree (outside the checkout, deleted after each build)."""
    return cache_root() / "build"


def tools_bin() -> Path:
    """helm and kubectl, installed by tools/setup."""
    return cache_root() / "bin"


def checkout_hash(root: Path = REPO_ROOT) -> str:
    return hashlib.sha256(str(root).encode()).hexdigest()[:10]


def default_state_dir(root: Path = REPO_ROOT) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "supertodo" / "localcluster" / checkout_hash(root)


def state_dir() -> Path:
    override = os.environ.get("SUPERTODO_CLUSTER_DIR")
    return Path(override).expanduser().resolve() if override else default_state_dir()


def schema_dir() -> Path:
    override = os.environ.get("SUPERTODO_SCHEMA_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "schemas"


def venv_bin() -> Path:
    return REPO_ROOT / ".venv" / "bin"
