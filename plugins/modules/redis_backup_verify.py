#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_backup_verify
short_description: Check Redis persistence files (RDB and Redis 7 multi-part AOF), local or on S3
description:
  - "Checks the newest RDB snapshot: C(REDIS) header, RDB version, the C(0xFF) end marker and the CRC64
    (Jones polynomial, as Redis computes it) of the whole file, computed by the module, against the stored one."
  - "Checks a Redis 7 multi-part AOF: the manifest parses, exactly one base file, incremental files in sequence,
    every listed file present, the base parses (RDB preamble with CRC64, or AOF) and every incremental file holds
    complete RESP commands (a truncated last command fails)."
  - Reports the age of the newest snapshot (the RDB's C(ctime) field, else the file time) against O(max_age).
  - The task fails when a check fails, with a message naming it. Files are streamed; memory stays constant.
version_added: 0.1.0
author:
  - Super-Todo maintainers (@andreqko)
options:
  path:
    description:
      - A local RDB file, or a directory (the Redis C(dir)) holding C(dump.rdb) and/or the AOF directory.
      - Exactly one of O(path) and O(s3_path) is required.
    type: path
  s3_path:
    description:
      - An S3 prefix, C(s3://bucket/prefix), holding copies of the persistence files (same layout as the local dir).
    type: str
  max_age:
    description:
      - Maximum age of the newest snapshot, as seconds or C(30m), C(2h), C(1d). Empty to skip.
    type: str
    default: 26h
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
  - The CRC64 is computed in pure Python (about 1-2 MB/s on one core); budget time for large snapshots.
requirements:
  - boto3 (only with O(s3_path))
"""

EXAMPLES = r"""
- name: Check the Redis data directory on a node
  supertodo.platform.redis_backup_verify:
    path: /var/lib/redis
    max_age: 2h

- name: Check snapshot copies on S3
  supertodo.platform.redis_backup_verify:
    s3_path: s3://super-todo-backups/redis-production/node-0
    endpoint_url: https://s3.eu-central-1.amazonaws.com
"""

RETURN = r"""
checks:
  description: Each check (C(rdb), C(aof), C(snapshot_age), C(files)) with its status and message.
  returned: always
  type: dict
  sample: {"rdb": {"status": "ok", "message": "/var/lib/redis/dump.rdb: RDB version 10, CRC64 8d3c... matches"}}
failed_checks:
  description: Names of the failed checks.
  returned: always
  type: list
  elements: str
  sample: []
rdb:
  description: The newest RDB snapshot checked (file, version, size, redis_version, checksum, created).
  returned: when an RDB file was found
  type: dict
  sample: {"file": "/var/lib/redis/dump.rdb", "version": 10, "redis_version": "7.0.15"}
aof:
  description: The AOF files listed by the manifest and what was found in each.
  returned: when an AOF manifest was found
  type: list
  elements: dict
  sample: [{"file": "appendonly.aof.1.base.rdb", "type": "base", "format": "rdb", "version": 10}]
snapshot_age_seconds:
  description: Age of the newest snapshot in seconds.
  returned: when a snapshot was found
  type: float
  sample: 120.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.supertodo.platform.plugins.module_utils.backup.common import parse_duration, split_s3_url
from ansible_collections.supertodo.platform.plugins.module_utils.backup.errors import BackupError
from ansible_collections.supertodo.platform.plugins.module_utils.backup.redis_verify import (
    LocalSource,
    S3Source,
    run_redis_checks,
)
from ansible_collections.supertodo.platform.plugins.module_utils.backup.s3 import S3_ARG_SPEC, ObjectStore

ARG_SPEC = dict(S3_ARG_SPEC)
ARG_SPEC.update({
    "path": {"type": "path"},
    "s3_path": {"type": "str"},
    "max_age": {"type": "str", "default": "26h"},
})


def verify(params):
    max_age = parse_duration(params.get("max_age") or None, "max_age")
    if params.get("s3_path"):
        bucket, prefix = split_s3_url(params["s3_path"], "s3_path")
        source = S3Source(ObjectStore(bucket, params), prefix)
    else:
        source = LocalSource(params["path"])
    return run_redis_checks(source, max_age)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True,
                           required_one_of=[("path", "s3_path")], mutually_exclusive=[("path", "s3_path")])
    where = module.params.get("path") or module.params.get("s3_path")
    try:
        result = verify(module.params)
    except BackupError as exc:
        module.fail_json(msg="redis_backup_verify %s: %s check failed: %s" % (where, exc.check, exc),
                         failed_checks=[exc.check], changed=False)
    if result["failed_checks"]:
        module.fail_json(msg="redis_backup_verify %s: %s" % (where, "; ".join(
            "%s check failed: %s" % (name, result["checks"][name]["message"]) for name in result["failed_checks"])),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
