"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test (2.19) bootstraps pip into each sanity virtualenv by running
``~/.ansible/test/cache/get_pip_<major>_<minor>.py`` (with ``GET_PIP`` pointing at it) and downloads that file
from ci-files.testing.ansible.com when it is missing. tools/sanity installs this file there instead, next to the
pip wheel from PyPI (``pip download --no-deps pip==<version>``), so the bootstrap needs no other host.

Like the upstream script it takes pip install options and requirements, accepts ``--no-setuptools`` and
``--no-wheel``, and runs ``pip install --upgrade --force-reinstall``; pip itself runs from the wheel.
"""

from __future__ import annotations

import os
import sys

WHEEL_DIR_NAME = "get_pip_wheels"


def pip_version(script_path):
    """Return the pip version encoded in the script's name, get_pip_24_2.py -> 24.2."""
    name = os.path.splitext(os.path.basename(script_path))[0]
    prefix = "get_pip_"
    if not name.startswith(prefix):
        raise SystemExit("%s: the file name must be get_pip_<major>_<minor>.py" % script_path)
    return name[len(prefix):].replace("_", ".")


def install_arguments(argv, version, wheel_dir):
    """Translate get-pip.py arguments into pip install arguments that only use the local wheel directory."""
    args = [arg for arg in argv if arg not in ("--no-setuptools", "--no-wheel")]
    if not any(arg.split("=")[0].split("<")[0].split(">")[0].strip().lower() == "pip" for arg in args):
        args.append("pip==%s" % version)
    return ["install", "--upgrade", "--force-reinstall", "--no-index", "--find-links", wheel_dir] + args


def main():
    """Run pip from the wheel kept next to this script."""
    here = os.path.dirname(os.path.abspath(__file__))
    version = pip_version(__file__)
    wheel_dir = os.path.join(here, WHEEL_DIR_NAME)
    wheel = os.path.join(wheel_dir, "pip-%s-py3-none-any.whl" % version)
    if not os.path.isfile(wheel):
        raise SystemExit("pip wheel missing: %s (tools/sanity downloads it)" % wheel)
    sys.path.insert(0, wheel)
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    sys.exit(pip_main(install_arguments(sys.argv[1:], version, wheel_dir)))


if __name__ == "__main__":
    main()
