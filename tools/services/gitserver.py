"""A Git server on loopback: Git's own ``git http-backend`` (smart HTTP, fetch and push) behind a small Python HTTP
server, serving the bare repositories under one directory.

Why HTTP: a Flux ``GitRepository`` only accepts ``http://``, ``https://`` or ``ssh://`` URLs (the CRD's pattern), so
``git daemon``'s ``git://`` would not do. ``git http-backend`` is the CGI program Git ships for this; the server
here is the web server in front of it: it passes each request to one ``git http-backend`` process (CGI/1.1
environment, ``GIT_PROJECT_ROOT`` = the repository directory, ``GIT_HTTP_EXPORT_ALL``, ``http.receivepack=true`` so
that anonymous pushes are accepted, ``GIT_PROTOCOL`` from the ``Git-Protocol`` header for protocol v2) and sends
back what it prints.

- ``GitServer(root).start()`` / ``.stop()``: the server as a child process, stopped by its PID (tests);
- ``python -m services.gitserver --root DIR --port N``: the server in the foreground (what ``localcluster up``
  starts and stops by PID);
- ``init_bare(path)``: an empty bare repository with ``main`` as its default branch.

Listens on 127.0.0.1 only; no authentication (loopback, test use only).
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import urllib.request

from services.common import LoopbackServer, free_ports

BACKEND = "/usr/lib/git-core/git-http-backend"


def git_binary():
    return shutil.which("git") or "/usr/bin/git"


def backend_binary():
    """Debian's git ships git-http-backend in git's exec path (``git --exec-path``)."""
    out = subprocess.run([git_binary(), "--exec-path"], capture_output=True, text=True, check=False)
    candidate = os.path.join(out.stdout.strip(), "git-http-backend") if out.returncode == 0 else BACKEND
    return candidate if os.access(candidate, os.X_OK) else BACKEND


def init_bare(path, branch="main"):
    """Create an empty bare repository at ``path`` (a no-op when one exists) whose HEAD names ``branch``."""
    if os.path.isfile(os.path.join(path, "HEAD")):
        return path
    os.makedirs(path, exist_ok=True)
    subprocess.run([git_binary(), "init", "--quiet", "--bare", "--initial-branch", branch, path], check=True,
                   capture_output=True)
    subprocess.run([git_binary(), "-C", path, "config", "http.receivepack", "true"], check=True)
    return path


def has_commits(path):
    """True when the bare repository at ``path`` has at least one branch or tag."""
    out = subprocess.run([git_binary(), "-C", path, "for-each-ref", "--count=1"], capture_output=True, text=True,
                         check=False)
    return out.returncode == 0 and bool(out.stdout.strip())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "supertodo-git-http/1"

    def do_GET(self):
        self._cgi()

    def do_POST(self):
        self._cgi()

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self):
        path, dummy, query = self.path.partition("?")
        body = self._body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            # anonymous push: http-backend only enables receive-pack without REMOTE_USER when this is set
            "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.receivepack", "GIT_CONFIG_VALUE_0": "true",
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command, "PATH_INFO": urllib.request.unquote(path), "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0], "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run([self.server.backend], input=body, env=env, capture_output=True, check=False)
        head, sep, payload = proc.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, dummy, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        if not sep:
            status, headers = 500, [("Content-Type", "text/plain")]
            payload = b"git http-backend failed (exit %d): %s" % (proc.returncode, proc.stderr[-2000:])
        if proc.stderr:
            self.log_message("git http-backend: %s", proc.stderr.decode(errors="replace").strip()[-500:])
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(root, port, host="127.0.0.1"):
    """Serve the bare repositories under ``root`` on ``host:port`` until SIGTERM/SIGINT."""
    server = _Server((host, port), _Handler)
    server.root = os.path.abspath(root)
    server.backend = backend_binary()

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print("git http-backend (%s) serving %s on http://%s:%d/" % (server.backend, server.root, host, port),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def ready(port, repo):
    """True when the server answers a smart-HTTP ref advertisement for ``repo`` (e.g. ``super-todo.git``)."""
    url = "http://127.0.0.1:%d/%s/info/refs?service=git-upload-pack" % (port, repo)
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200 and b"git-upload-pack" in resp.read()


class GitServer(LoopbackServer):
    """The Git server as a child process on 127.0.0.1:<port> (free port when not given), repositories in
    ``root`` (default: the work directory); ``url(name)`` is the smart-HTTP URL of ``<root>/<name>``."""

    name = "git-http-server"
    prefix = "gitserver-"
    log_name = "gitserver.log"

    def __init__(self, root=None, port=None, workdir=None):
        super().__init__(workdir)
        self.root = root or os.path.join(self.workdir, "repos")
        self.port = port

    def url(self, repo="super-todo.git"):
        return "http://127.0.0.1:%d/%s" % (self.port, repo)

    def init(self, repo="super-todo.git", branch="main"):
        return init_bare(os.path.join(self.root, repo), branch)

    def start(self, timeout=30, probe="super-todo.git"):
        os.makedirs(self.root, exist_ok=True)
        self.port = self.port or free_ports(1, low=34000, high=36000)[0]
        init_bare(os.path.join(self.root, probe))
        env = dict(os.environ)
        tools = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join([tools] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self._spawn([sys.executable, "-m", "services.gitserver", "--root", self.root, "--port", str(self.port)],
                    env=env)
        self._wait_ready(lambda: ready(self.port, probe), timeout, "git server on 127.0.0.1:%d" % self.port)
        return self


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.gitserver", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", required=True, help="directory holding the bare repositories")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.root, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
