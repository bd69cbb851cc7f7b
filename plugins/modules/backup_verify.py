#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_verify
short_description: Prove from the object store that a PostgreSQL barman-cloud archive is restorable
description:
  - Reads a Barman Cloud archive (as written by CloudNativePG's barman cloud plugin, barman-cloud-backup and
    barman-cloud-wal-archive) straight from S3, independent of the operator, in one streaming paginated listing.
  - "Runs separate checks: C(archive) (something is there), C(base_backups) (every C(backup.info) parsed,
    FAILED and unreadable ones listed, the newest one not FAILED, at least O(min_backups) usable; a DONE backup is
    usable only when the listing shows its C(data.tar), each tablespace's tar and every split part from the first to
    the last, none of them empty),
    C(backup_age) (the newest DONE backup within O(max_backup_age)), C(retention) (DONE backups cover
    O(retention_window) and nothing is kept far past it), C(wal_continuity) (every segment from the oldest usable
    backup's begin WAL to the newest archived one, across timeline switches, and the newest usable backup's own WAL
    from its C(begin_wal) through its C(end_wal)), C(rpo) (age of the newest archived WAL), and optionally C(deep)
    and C(cluster)."
  - Reports the server-side encryption the S3 server reports for the objects it reads (each C(backup.info), the
    newest WAL segment).
  - The task fails when a check fails, with a message naming the check and the cause. Storage failures (endpoint
    unreachable, credentials rejected, bucket missing) and an empty archive are failures too.
  - Memory does not grow with the number of WAL segments (contiguous runs are kept, not names).
version_added: 0.1.0
author:
  - Super-Todo maintainers (@andreqko)
options:
  destination_path:
    description:
      - The archive's destination, C(s3://bucket/prefix), as in the ObjectStore's C(spec.configuration.destinationPath).
    type: str
    required: true
  server_name:
    description:
      - The Barman server name, the folder below O(destination_path). CloudNativePG uses the cluster name.
    type: str
    required: true
  max_backup_age:
    description:
      - Maximum age of the newest DONE backup (its end time), as seconds or C(30m), C(26h), C(2d).
    type: str
    default: 26h
  retention_window:
    description:
      - The recovery window the backups must cover, e.g. C(7d). Empty to skip the retention check.
    type: str
    default: 7d
  retention_tolerance:
    description:
      - How far past the window an extra (obsolete) backup may be before the retention check says retention is
        not enforcing.
    type: str
    default: 1d
  rpo:
    description:
      - Maximum age of the newest archived WAL segment.
    type: str
    default: 10m
  min_backups:
    description:
      - Minimum number of usable (DONE) backups.
    type: int
    default: 1
  deep:
    description:
      - Also read the newest usable backup's data tar(s) to the end (tar structure, member sizes, object sizes,
        C(backup_label) against C(backup.info)), and report the server-side encryption of each tar. Costs a full
        download of that backup.
    type: bool
    default: false
  cluster:
    description:
      - A CloudNativePG Cluster (and its barman cloud ObjectStore) whose conditions are added as the C(cluster)
        check. The Kubernetes connection options below default like those of M(supertodo.platform.flux_info).
    type: dict
    suboptions:
      name:
        description: The Cluster's name.
        type: str
        required: true
      namespace:
        description: The Cluster's namespace.
        type: str
        required: true
      object_store:
        description: The ObjectStore's name (optional).
        type: str
      kubeconfig:
        description: Path to a kubeconfig file (default E(K8S_AUTH_KUBECONFIG), E(KUBECONFIG), C(~/.kube/config)).
        type: path
      context:
        description: The kubeconfig context.
        type: str
      host:
        description: URL of the API server.
        type: str
      api_key:
        description: Bearer token for the API server.
        type: str
      validate_certs:
        description: Verify the API server's certificate.
        type: bool
        aliases: [verify_ssl]
      request_timeout:
        description: Seconds to wait for one API request.
        type: float
        default: 30.0
extends_documentation_fragment:
  - supertodo.platform.s3
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs the same checks.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
notes:
  - The module never writes to the bucket or the cluster; C(changed) is always false.
requirements:
  - boto3
  - kubernetes (python) >= 31.0.0 (only with O(cluster), and only for a kubeconfig using C(auth-provider) or C(proxy-url))
"""

EXAMPLES = r"""
- name: Verify the production PostgreSQL archive
  supertodo.platform.backup_verify:
    destination_path: s3://super-todo-backups/postgres-production
    server_name: postgres-production
    endpoint_url: https://s3.eu-central-1.amazonaws.com
    retention_window: 7d
    max_backup_age: 26h
    rpo: 10m
  register: backup_report

- name: Deep check plus the Cluster and ObjectStore conditions
  supertodo.platform.backup_verify:
    destination_path: s3://super-todo-backups/postgres-production
    server_name: postgres-production
    deep: true
    cluster:
      name: postgres-production
      namespace: production
      object_store: postgres-production-backup
"""

RETURN = r"""
checks:
  description: Each check's status (C(ok), C(failed), C(skipped)) and message.
  returned: always
  type: dict
  sample: {"rpo": {"status": "ok", "message": "the newest archived WAL 000000010000000000000003 is 12s old"}}
failed_checks:
  description: Names of the failed checks.
  returned: always
  type: list
  elements: str
  sample: ["wal_continuity"]
backups:
  description:
    - Every base backup found, oldest first, with the number and total size of its listed data tars (C(data_files),
      C(data_bytes)) and the server-side encryption the server reported for its C(backup.info) (C(encryption)).
  returned: when the archive could be listed
  type: list
  elements: dict
  sample: [{"backup_id": "20261128T085655", "status": "DONE", "usable": true, "begin_wal": "000000010000000000000002",
            "data_files": 1, "data_bytes": 4404224, "encryption": "AES256"}]
encryption:
  description:
    - The server-side encryption the S3 server reports (C(AES256), C(aws:kms), C(none) when it reports none) for each
      backup's C(backup.info) (C(backups)) and for the newest WAL segment (C(wal), C(wal_segment)); C(summary) is
      the one value they all share, or C(mixed).
  returned: when the archive is not empty
  type: dict
  sample: {"backups": {"20261128T085655": "AES256"}, "wal": "AES256", "wal_segment": "000000010000000000000009",
           "summary": "AES256"}
unreadable_backups:
  description: backup.info files that could not be parsed.
  returned: when the archive could be listed
  type: list
  elements: dict
  sample: []
recovery_window:
  description: First and last recoverable points (ISO 8601), C(null) when nothing is recoverable.
  returned: when the archive could be listed
  type: dict
  sample: {"first": "2026-11-28T08:57:00.205282+00:00", "last": "2026-11-28T08:57:04+00:00"}
segments:
  description: Number of distinct WAL segments archived.
  returned: when the archive could be listed
  type: int
  sample: 10080
gaps:
  description: Missing WAL segment ranges on the replay path.
  returned: when the archive could be listed
  type: list
  elements: dict
  sample: [{"timeline": 1, "first": "000000010000000000000004", "last": "000000010000000000000004", "segments": 1}]
rpo_seconds:
  description: Age of the newest archived WAL segment in seconds.
  returned: when the archive could be listed
  type: float
  sample: 12.0
newest_wal:
  description: Name of the newest archived WAL segment.
  returned: when the archive could be listed
  type: str
  sample: "000000010000000000000003"
objects:
  description: Objects listed under the server prefix.
  returned: when the archive could be listed
  type: int
  sample: 10095
s3_requests:
  description: S3 requests made (list pages, object reads and the HEAD of the newest WAL segment).
  returned: when the archive could be listed
  type: int
  sample: 12
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import parse_duration, split_s3_url
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import BackupError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.s3 import S3_ARG_SPEC, ObjectStore
from ansible_collections.supertodo.platform.plugins.module_utils.backup.verify import Thresholds, run_checks
from ansible_collections.supertodo.platform.plugins.module_utils.kube.args import CONNECTION_ARG_SPEC

CLUSTER_SPEC = dict(CONNECTION_ARG_SPEC)
CLUSTER_SPEC.update({
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "object_store": {"type": "str"},
})
for _unused in ("ca_cert", "client_cert", "client_key"):
    CLUSTER_SPEC.pop(_unused, None)

ARG_SPEC = dict(S3_ARG_SPEC)
ARG_SPEC.update({
    "destination_path": {"type": "str", "required": True},
    "server_name": {"type": "str", "required": True},
    "max_backup_age": {"type": "str", "default": "26h"},
    "retention_window": {"type": "str", "default": "7d"},
    "retention_tolerance": {"type": "str", "default": "1d"},
    "rpo": {"type": "str", "default": "10m"},
    "min_backups": {"type": "int", "default": 1},
    "deep": {"type": "bool", "default": False},
    "cluster": {"type": "dict", "options": CLUSTER_SPEC},
})


def make_cluster_check(spec):
    """A callable running the ``cluster`` check with the shared Kubernetes client."""
    from ansible_collections.supertodo.platform.plugins.module_utils.backup.cluster import cluster_check
    from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient

    def run():
        client = KubeClient(spec)
        return cluster_check(client, spec["name"], spec["namespace"], spec.get("object_store"))

    return run


def verify(params, store=None):
    """Run every check for the module's parameters; raises BackupError when the archive cannot be read."""
    bucket, prefix = split_s3_url(params["destination_path"])
    thresholds = Thresholds(
        max_backup_age=parse_duration(params.get("max_backup_age"), "max_backup_age"),
        retention_window=parse_duration(params.get("retention_window") or None, "retention_window"),
        retention_tolerance=parse_duration(params.get("retention_tolerance"), "retention_tolerance"),
        rpo=parse_duration(params.get("rpo"), "rpo"),
        min_backups=params.get("min_backups", 1),
    )
    store = store or ObjectStore(bucket, params)
    server_prefix = "/".join(p for p in (prefix, params["server_name"]) if p) + "/"
    cluster = make_cluster_check(params["cluster"]) if params.get("cluster") else None
    return run_checks(store, server_prefix, thresholds, deep=params.get("deep", False), cluster_check=cluster)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    try:
        result = verify(module.params)
    except BackupError as exc:
        module.fail_json(msg="backup_verify %s/%s: %s check failed: %s" % (
            module.params["destination_path"], module.params["server_name"], exc.check, exc),
            failed_checks=[exc.check], checks={exc.check: {"status": "failed", "message": str(exc)}}, changed=False)
    if result["failed_checks"]:
        module.fail_json(msg="backup_verify %s/%s: %s" % (
            module.params["destination_path"], module.params["server_name"], "; ".join(
                "%s check failed: %s" % (name, result["checks"][name]["message"]) for name in result["failed_checks"])),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
