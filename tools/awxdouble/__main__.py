"""Run the AWX API double on loopback until SIGTERM/SIGINT.

    python -m awxdouble --state-dir DIR [--port N] [--token TOKEN] [--task-env FILE.json]

It writes ``DIR/server.json`` (``url``, ``port``, ``pid``, ``token``) once it listens; stop it by that pid.
``--task-env``: a JSON object of environment variables every job runs with (the stand-in for the execution
environment and AWX's ``AWX_TASK_ENV`` setting), e.g. ``PATH`` with ansible-runner and ansible-playbook on it.
The token defaults to a random one (in server.json, mode 0600).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import threading
from pathlib import Path

from .server import serve


def main(argv=None):
    parser = argparse.ArgumentParser(prog="awxdouble", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--task-env", type=Path, default=None)
    args = parser.parse_args(argv)
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    token = args.token or secrets.token_hex(20)
    task_env = json.loads(args.task_env.read_text()) if args.task_env else {"PATH": os.environ.get("PATH", "")}
    server, _api = serve(state, token, task_env, args.port)
    port = server.server_address[1]
    info = state / "server.json"
    tmp = state / "server.json.tmp"
    tmp.write_text(json.dumps({"url": "http://127.0.0.1:%d" % port, "port": port, "pid": os.getpid(),
                               "token": token}))
    tmp.chmod(0o600)
    tmp.replace(info)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    info.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
