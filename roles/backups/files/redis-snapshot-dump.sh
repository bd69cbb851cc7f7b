#!/bin/sh
# Fetch one RDB snapshot from every Redis node into $SNAPSHOT_DIR/<node>/dump.rdb.
# `redis-cli --rdb` asks the node for a fresh RDB over the replication protocol (the node forks and streams it,
# as it would to a new replica), so the file is a complete RDB with its CRC64 footer, taken now.
# Environment: REDIS_TARGETS (pod names), REDIS_HEADLESS (headless Service, appended to each pod name when set),
# REDIS_PORT, REDISCLI_AUTH (the password, read by redis-cli), SNAPSHOT_DIR (default /snapshots).
set -eu
dir=${SNAPSHOT_DIR:-/snapshots}
for node in $REDIS_TARGETS; do
  mkdir -p "$dir/$node"
  echo "snapshot of $node"
  redis-cli -h "$node${REDIS_HEADLESS:+.$REDIS_HEADLESS}" -p "$REDIS_PORT" --no-auth-warning --rdb "$dir/$node/dump.rdb"
  test -s "$dir/$node/dump.rdb"
done
