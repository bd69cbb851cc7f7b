# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""manifest_apply against the real kube-apiserver: a field another manager owns (a person's kubectl apply with
--field-manager=kubectl-edit) is a conflict named with its object, field path and manager, and nothing of the run
is written; force_conflicts takes it over and lists what was taken."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]


def _module(kube, tmp_path, objects, **params):
    args = {"manifests": [{"path": "x/%d.yaml" % i, "object": o} for i, o in enumerate(objects)],
            "kubeconfig": kube.kubeconfig, "charts": {}, "kubernetes_version": "1.24.0"}
    args.update(params)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "apply", "supertodo.platform.manifest_apply": args, "register": "out", "ignore_errors": True},
        {"name": "result", "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": str(tmp_path / "out.json"),
                                                    "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
                          cwd=str(REPO), env=kube.env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


def _cm(ns, name, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def _data(kube, ns, name):
    out = kube.kubectl("-n", ns, "get", "configmap", name, "-o", "json", "--show-managed-fields")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_conflict_is_named_nothing_written_then_force_takes_over(kube, tmp_path):
    ns = "conflicts-%s" % uuid.uuid4().hex[:6]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    try:
        first = _module(kube, tmp_path, [namespace, _cm(ns, "a", {"level": "info"}), _cm(ns, "b", {"level": "info"})])
        assert first["changed"] and not first.get("failed"), first
        # a person changes b's level with their own field manager: they now own .data.level
        edit = kube.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=kubectl-edit", "-f", "-",
                            input=json.dumps(_cm(ns, "b", {"level": "debug"})))
        assert edit.returncode == 0, edit.stderr
        rv_a = _data(kube, ns, "a")["metadata"]["resourceVersion"]

        # the run would change a (first in order) and b: it fails on b's conflict and writes neither
        failed = _module(kube, tmp_path, [namespace, _cm(ns, "a", {"level": "warn"}), _cm(ns, "b", {"level": "warn"})])
        assert failed.get("failed"), failed
        assert "ConfigMap %s/b: .data.level owned by kubectl-edit" % ns in failed["msg"], failed["msg"]
        assert failed["conflicts"] == [{"ref": "ConfigMap %s/b" % ns, "field": ".data.level", "manager": "kubectl-edit"}]
        assert _data(kube, ns, "a")["metadata"]["resourceVersion"] == rv_a
        assert _data(kube, ns, "b")["data"] == {"level": "debug"}

        forced = _module(kube, tmp_path, [namespace, _cm(ns, "a", {"level": "warn"}), _cm(ns, "b", {"level": "warn"})],
                         force_conflicts=True)
        assert forced["changed"] and not forced.get("failed"), forced
        assert forced["conflicts_taken"] == [{"ref": "ConfigMap %s/b" % ns, "field": ".data.level",
                                              "manager": "kubectl-edit"}]
        live = _data(kube, ns, "b")
        assert live["data"] == {"level": "warn"}
        owners = {m["manager"] for m in live["metadata"]["managedFields"] if "f:level" in json.dumps(m.get("fieldsV1"))}
        assert owners == {"supertodo.platform"}

        again = _module(kube, tmp_path, [namespace, _cm(ns, "a", {"level": "warn"}), _cm(ns, "b", {"level": "warn"})])
        assert not again["changed"] and again["conflicts_taken"] == [], again
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false")
