# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report_write through main(): creates the directory, writes only what changed, check and diff mode, bad names."""

from __future__ import annotations

import json
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.supertodo.platform.plugins.modules import report_write


def _run(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            report_write.main()
    return json.loads(capsys.readouterr().out)


def test_writes_then_changes_nothing_then_one_file(capsys, tmp_path):
    dest = tmp_path / "a" / "b"
    files = {"staging.md": "# report\n", "staging.json": "{}\n"}
    res = _run(capsys, {"dest": str(dest), "files": files})
    assert res["changed"] is True and sorted(res["written"]) == [str(dest / "staging.json"), str(dest / "staging.md")]
    assert (dest / "staging.md").read_text() == "# report\n"
    assert stat.S_IMODE((dest / "staging.json").stat().st_mode) == 0o644
    again = _run(capsys, {"dest": str(dest), "files": files})
    assert again["changed"] is False and again["written"] == []
    one = _run(capsys, {"dest": str(dest), "files": dict(files, **{"staging.md": "# new\n"}), "_ansible_diff": True})
    assert one["written"] == [str(dest / "staging.md")]
    assert one["diff"] == [{"before_header": str(dest / "staging.md"), "after_header": str(dest / "staging.md"),
                            "before": "# report\n", "after": "# new\n"}]
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []


def test_check_mode_predicts_and_writes_nothing(capsys, tmp_path):
    dest = tmp_path / "report"
    res = _run(capsys, {"dest": str(dest), "files": {"x.md": "x"}, "_ansible_check_mode": True})
    assert res["changed"] is True and res["written"] == [str(dest / "x.md")]
    assert not dest.exists()


@pytest.mark.parametrize("name", ["../x.md", "a/b.md", ""])
def test_a_name_with_a_directory_is_refused(capsys, tmp_path, name):
    res = _run(capsys, {"dest": str(tmp_path), "files": {name: "x"}})
    assert res["failed"] is True and "must be a plain name inside" in res["msg"]
