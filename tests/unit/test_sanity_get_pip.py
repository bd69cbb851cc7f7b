"""tools/sanity_get_pip.py: the offline stand-in for the get-pip script ansible-test runs in its sanity venvs."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

import sanity_get_pip

ROOT = Path(__file__).resolve().parents[2]


def test_version_comes_from_the_file_name_ansible_test_caches_it_under():
    assert sanity_get_pip.pip_version("/cache/get_pip_24_2.py") == "24.2"
    with pytest.raises(SystemExit):
        sanity_get_pip.pip_version("/cache/get-pip.py")


def test_arguments_install_only_from_the_local_wheel_directory():
    # What ansible-test 2.19 passes (requirements.py: bootstrap): pip options, the pinned pip, --no-setuptools/--no-wheel.
    args = sanity_get_pip.install_arguments(["--disable-pip-version-check", "pip==24.2", "--no-setuptools",
                                             "--no-wheel"], "24.2", "/cache/get_pip_wheels")
    assert args == ["install", "--upgrade", "--force-reinstall", "--no-index", "--find-links", "/cache/get_pip_wheels",
                    "--disable-pip-version-check", "pip==24.2"]


def test_pip_is_added_when_no_pip_requirement_is_given():
    args = sanity_get_pip.install_arguments([], "24.2", "/w")
    assert args[-1] == "pip==24.2"


def test_bootstraps_pip_into_an_empty_venv_from_the_wheel(tmp_path):
    """The same call ansible-test makes: its quiet_pip.py entry point with GET_PIP pointing at the cached script."""
    wheel = os.path.expanduser("~/.ansible/test/cache/get_pip_wheels/pip-24.2-py3-none-any.whl")
    if not os.path.isfile(wheel):
        pytest.skip("the pip wheel is not cached yet (tools/sanity downloads it)")
    cache = tmp_path / "cache"
    (cache / "get_pip_wheels").mkdir(parents=True)
    os.symlink(wheel, cache / "get_pip_wheels" / os.path.basename(wheel))
    script = cache / "get_pip_24_2.py"
    script.write_text((ROOT / "tools" / "sanity_get_pip.py").read_text())
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    import ansible_test
    quiet_pip = Path(ansible_test.__file__).parent / "_util" / "target" / "setup" / "quiet_pip.py"
    env = dict(os.environ, GET_PIP=str(script), PIP_NO_INDEX="1")
    proc = subprocess.run([str(target / "bin" / "python"), str(quiet_pip), "--disable-pip-version-check", "pip==24.2",
                           "--no-setuptools", "--no-wheel"], env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True,
                         check=False)
    assert out.stdout.startswith("pip 24.2 "), out.stdout + out.stderr
