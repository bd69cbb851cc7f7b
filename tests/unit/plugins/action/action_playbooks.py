# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a test playbook with the checkout's ansible.cfg at -vvv, pipelining off: -vvv then names each module file
Ansible packs and runs (AnsiballZ_<module>.py), which tells a module run from an action plugin's own work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def run_vvv(book, tmp_path, drop=(), **extra_env):
    """``ansible-playbook -vvv book``; ``drop``: environment variables (or prefixes ending in ``_``) left out."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="false", **extra_env)
    for name in list(env):
        if any(name == d or (d.endswith("_") and name.startswith(d)) for d in drop):
            env.pop(name)
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", str(book)], cwd=REPO,
                          env=env, capture_output=True, text=True, check=False)
