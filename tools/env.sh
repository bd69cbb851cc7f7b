# shellcheck shell=bash
# Source this file to get the project's tools on PATH: the virtualenv, helm, kubectl, and the local cluster.
SUPERTODO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SUPERTODO_ROOT
export PATH="$SUPERTODO_ROOT/.venv/bin:${XDG_CACHE_HOME:-$HOME/.cache}/supertodo/bin:$SUPERTODO_ROOT/tools:$PATH"
export ANSIBLE_CONFIG="$SUPERTODO_ROOT/ansible.cfg"
# The upstream CRDs and chart value schemas used for offline validation (a copy of shared/schemas).
export SUPERTODO_SCHEMA_DIR="${SUPERTODO_SCHEMA_DIR:-$(cd "$SUPERTODO_ROOT/.." && pwd)/shared/schemas}"
