#!/bin/sh
# Fetch one RDB snapshot from every Redis node into /snapshots/<node>/dump.rdb.
# `redis-cli --rdb` asks the node for a fresh RDB over the replication protocol (the node forks and streams it,
# as it would to a new replica), so the file is a complete RDB with its CRC64 footer, taken now.
# Environment: REDIS_TARGETS (pod names), REDIS_HEADLESS (headless Service), REDIS_PORT, REDISCLI_AUTH.
set -eu
for node in $REDIS_TARGETS; do
  mkdir -p "/snapshots/$node"
  echo "snapshot of $node"
  redis-cli -h "$node.$REDIS_HEADLESS" -p "$REDIS_PORT" --no-auth-warning --rdb "/snapshots/$node/dump.rdb"
  test -s "/snapshots/$node/dump.rdb"
done
