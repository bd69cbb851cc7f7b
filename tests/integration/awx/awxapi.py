"""The AWX API double (tools/awxdouble) as the AWX tests use it: started on loopback in a state directory, called
over HTTP, stopped by its pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class AwxDouble:
    def __init__(self, state_dir, task_env):
        self.state = Path(state_dir)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "task-env.json").write_text(json.dumps(task_env))
        self.proc = None
        self.url = self.token = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
        self.proc = subprocess.Popen([sys.executable, "-m", "awxdouble", "--state-dir", str(self.state),
                                      "--task-env", str(self.state / "task-env.json")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.state / "server.log", "w"))
        info = self.state / "server.json"
        deadline = time.monotonic() + 30
        while not info.exists():
            assert self.proc.poll() is None, (self.state / "server.log").read_text()
            assert time.monotonic() < deadline, "the AWX double did not start"
            time.sleep(0.1)
        data = json.loads(info.read_text())
        self.url, self.token = data["url"], data["token"]
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def call(self, method, path, body=None, token=True, raw=False):
        """(status, JSON body or text) of one request; ``path`` relative to /api/v2/ or absolute."""
        url = self.url + (path if path.startswith("/api/") else "/api/v2/" + path)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer %s" % (self.token if token is True else token)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text, hdrs = resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, text, hdrs = err.code, err.read().decode(), dict(err.headers)
        if raw:
            return status, text, hdrs
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def get(self, path):
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def one(self, lst, **query):
        from urllib.parse import urlencode
        body = self.get("%s/?%s" % (lst, urlencode(query)))
        assert body["count"] == 1, (lst, query, body)
        return body["results"][0]

    def wait(self, path, predicate, timeout=600, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(path)
            if predicate(body):
                return body
            assert time.monotonic() < deadline, "%s not reached after %ss: %s" % (what, timeout, body)
            time.sleep(1)

    def workflow_nodes(self, workflow_job_id):
        """{identifier: workflow job node} of a workflow job, each with ``_job`` (the job or approval, or None)."""
        nodes = {}
        for node in self.get("workflow_jobs/%d/workflow_nodes/?page_size=200" % workflow_job_id)["results"]:
            node["_job"] = self.get(node["related"]["job"]) if node["related"].get("job") else None
            nodes[node["identifier"]] = node
        return nodes

    def stdout(self, job_id):
        status, text = self.call("GET", "jobs/%d/stdout/?format=txt" % job_id)
        assert status == 200
        return text
