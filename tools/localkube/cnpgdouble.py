"""Test double of CloudNativePG's Backup handling (NOT CloudNativePG): completes ``postgresql.cnpg.io/v1`` Backups
of the local cluster with a real base backup of a real PostgreSQL, taken with barman-cloud-backup.

The local cluster has no CloudNativePG operator and no PostgreSQL pods. This double follows the Backup status
contract of CloudNativePG 1.2x with the barman cloud plugin (``method: plugin``):

- a Backup without ``status.phase`` is taken: ``status.phase`` ``started`` with ``startedAt``, ``method`` and
  ``serverName`` (the Cluster's name);
- where the archive goes comes from the plugin's ObjectStore (``barmancloud.cnpg.io/v1``) in the Backup's
  namespace: the Cluster's ``spec.plugins[].parameters.barmanObjectName`` when the Cluster exists, else the only
  ObjectStore there; ``spec.configuration.destinationPath``, ``endpointURL`` and the ``s3Credentials`` Secret keys;
- success: ``phase: completed``, ``backupId`` (barman's backup ID), ``beginWal``/``endWal``, ``beginLSN``/``endLSN``,
  ``startedAt``/``stoppedAt``, ``destinationPath``, ``endpointURL``; failure: ``phase: failed`` and ``error``
  (barman's own message), as the operator reports it;
- Backups of another plugin, of another method, or in a namespace it was not given are left alone.

The PostgreSQL it backs up is the one given (libpq environment ``PGHOST``/``PGPORT``/``PGUSER``), standing in for the
Cluster's instance. Use: ``BackupDouble(kubeconfig, namespace, pg_env).start()`` ... ``.stop()`` (tests), or
``python -m localkube.cnpgdouble --kubeconfig KC --namespace production`` with the libpq environment set.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import logging
import os
import subprocess
import threading

from localkube.fluxdouble.kube import Kube

LOG = logging.getLogger("cnpg-double")
CNPG = "postgresql.cnpg.io/v1"
BARMAN = "barmancloud.cnpg.io/v1"
PLUGIN = "barman-cloud.cloudnative-pg.io"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class BackupDouble:
    def __init__(self, kubeconfig, namespace, pg_env, plugin=PLUGIN, timeout=600):
        # the doubles' own client (tools/localkube), never the collection's: a client bug must not hide on both sides
        self.client = Kube(str(kubeconfig), timeout=30)
        self.namespace = namespace
        self.pg_env = dict(pg_env)
        self.plugin = plugin
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.thread = None
        self.handled = []

    # -- loop ---------------------------------------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._run, name="cnpg-double", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        if self.thread:
            self.thread.join(timeout=70)

    def _run(self):
        while not self.stop_event.is_set():
            try:
                listed = self.client.list(CNPG, "Backup", self.namespace)
                for item in listed.get("items") or []:
                    self._maybe_take(item)
                rv = listed["metadata"]["resourceVersion"]
                for etype, obj in self.client.watch(CNPG, "Backup", rv, timeout=5, namespace=self.namespace):
                    if self.stop_event.is_set():
                        return
                    if etype in ("ADDED", "MODIFIED"):
                        self._maybe_take(obj)
            except Exception as exc:  # noqa: BLE001 - a watch must survive anything and start again
                LOG.info("Backup watch restarts: %s", exc)
                self.stop_event.wait(0.5)

    def _maybe_take(self, backup):
        spec = backup.get("spec") or {}
        if (backup.get("status") or {}).get("phase"):
            return
        if spec.get("method") != "plugin" or (spec.get("pluginConfiguration") or {}).get("name") != self.plugin:
            return
        self.take(backup)

    # -- one Backup ---------------------------------------------------------------------------------------------
    def _status(self, name, status):
        self.client.patch(CNPG, "Backup", name, self.namespace, {"status": status}, subresource="status")

    def _object_store(self, cluster_name):
        cluster = self.client.get(CNPG, "Cluster", cluster_name, self.namespace)
        wanted = None
        for plugin in ((cluster or {}).get("spec") or {}).get("plugins") or []:
            if plugin.get("name") == self.plugin:
                wanted = (plugin.get("parameters") or {}).get("barmanObjectName")
        stores = (self.client.list(BARMAN, "ObjectStore", self.namespace) or {}).get("items") or []
        if wanted:
            stores = [s for s in stores if s["metadata"]["name"] == wanted]
        if len(stores) != 1:
            raise RuntimeError("no unique barman cloud ObjectStore for cluster %s in %s (found %s)" % (
                cluster_name, self.namespace, [s["metadata"]["name"] for s in stores]))
        return stores[0]

    def _secret_value(self, ref):
        secret = self.client.get("v1", "Secret", ref["name"], self.namespace)
        if secret is None:
            raise RuntimeError("Secret %s/%s not found" % (self.namespace, ref["name"]))
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def take(self, backup):
        name = backup["metadata"]["name"]
        server = ((backup.get("spec") or {}).get("cluster") or {}).get("name")
        started = now()
        self._status(name, {"phase": "started", "startedAt": started, "method": "plugin", "serverName": server})
        try:
            store = (self._object_store(server).get("spec") or {}).get("configuration") or {}
            creds = store.get("s3Credentials") or {}
            env = dict(os.environ, **self.pg_env)
            env["AWS_ACCESS_KEY_ID"] = self._secret_value(creds["accessKeyId"])
            env["AWS_SECRET_ACCESS_KEY"] = self._secret_value(creds["secretAccessKey"])
            dest = store["destinationPath"]
            endpoint = ["--endpoint-url", store["endpointURL"]] if store.get("endpointURL") else []
            res = subprocess.run(["barman-cloud-backup", *endpoint, "--immediate-checkpoint", dest, server],
                                 env=env, capture_output=True, text=True, timeout=self.timeout, check=False)
            if res.returncode != 0:
                raise RuntimeError("barman-cloud-backup exited with %s: %s" % (
                    res.returncode, (res.stderr or res.stdout).strip().splitlines()[-1:] or ""))
            listing = subprocess.run(["barman-cloud-backup-list", *endpoint, "--format", "json", dest, server],
                                     env=env, capture_output=True, text=True, timeout=120, check=True)
            newest = sorted(json.loads(listing.stdout)["backups_list"], key=lambda b: b["backup_id"])[-1]
            status = {"phase": "completed", "startedAt": started, "stoppedAt": now(), "method": "plugin",
                      "serverName": server, "backupId": newest["backup_id"], "backupName": newest.get("backup_name"),
                      "beginWal": newest.get("begin_wal"), "endWal": newest.get("end_wal"),
                      "beginLSN": newest.get("begin_xlog"), "endLSN": newest.get("end_xlog"),
                      "destinationPath": dest, "endpointURL": store.get("endpointURL")}
            self._status(name, {k: v for k, v in status.items() if v})
        except Exception as exc:  # noqa: BLE001 - every failure is the Backup's failure, as the operator reports
            self._status(name, {"phase": "failed", "startedAt": started, "stoppedAt": now(), "error": str(exc)})
        self.handled.append(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    pg_env = {k: v for k, v in os.environ.items() if k.startswith("PG")}
    double = BackupDouble(args.kubeconfig, args.namespace, pg_env).start()
    try:
        double.thread.join()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
