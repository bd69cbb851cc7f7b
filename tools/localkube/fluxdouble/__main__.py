"""Entry point of the Flux controller double: ``python -m localkube.fluxdouble --kubeconfig ... --state-dir ...
--schema-dir ...``. Runs until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m localkube.fluxdouble", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--repo-root", help="accepted for older callers and ignored: Git sources are fetched from "
                        "their spec.url")
    parser.add_argument("--schema-dir", required=True)
    args = parser.parse_args(argv)
    from localkube.fluxdouble.controller import Controller

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    ctl = Controller(args.kubeconfig, Path(args.state_dir), Path(args.schema_dir))

    def stop(signum, frame):
        ctl.stop.set()
        with ctl.cv:
            ctl.cv.notify_all()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker = ctl.start()
    logging.getLogger("flux-double").info("started (state %s, schema-dir %s)", args.state_dir, args.schema_dir)
    while worker.is_alive():
        worker.join(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
