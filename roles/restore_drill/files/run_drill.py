# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run playbooks/restore_drill.yml and exit with the drill's verdict (docs/restore_drill.md):

    0  the drill passed
    1  the drill ran and failed (a step of the restore or a check)
    2  bad input or preflight (nothing was started), the evidence could not be kept, or ansible-playbook
       stopped before the role gave a verdict (its own exit status is printed)

Usage: python3 run_drill.py [ansible-playbook options ...]   e.g. -e @drill.yml -e restore_drill_report_file=r.json
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

EXIT = {"passed": 0, "failed": 1, "error": 2}


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    playbook = os.path.join(here, "..", "..", "..", "playbooks", "restore_drill.yml")
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    binary = beside if os.access(beside, os.X_OK) else shutil.which("ansible-playbook") or "ansible-playbook"
    with tempfile.TemporaryDirectory(prefix="restore-drill-verdict-") as tmp:
        verdict_file = os.path.join(tmp, "verdict")
        proc = subprocess.run([binary, os.path.normpath(playbook), *argv, "-e",
                               "restore_drill_verdict_file=%s" % verdict_file], check=False)
        try:
            with open(verdict_file, encoding="utf-8") as handle:
                verdict = handle.read().strip()
        except OSError:
            verdict = ""
    if verdict == "passed" and proc.returncode != 0:
        verdict = "error"       # the drill passed but a later step (keeping the evidence) failed
    code = EXIT.get(verdict, 2)
    sys.stderr.write("restore drill verdict: %s (ansible-playbook exit %d) -> exit %d\n"
                     % (verdict or "none", proc.returncode, code))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
