#!/bin/sh
# Copy $SNAPSHOT_DIR/<node>/dump.rdb to <DESTINATION>/<node>/dump-<UTC time>.rdb and keep the newest
# SNAPSHOT_KEEP snapshots of each node. The layout is what supertodo.platform.redis_backup_verify reads
# (one s3_path per node).
# Environment: DESTINATION (s3://bucket/prefix), SNAPSHOT_KEEP, AWS_* credentials, optional S3_ENDPOINT_URL,
# SNAPSHOT_DIR (default /snapshots).
set -eu
dir=${SNAPSHOT_DIR:-/snapshots}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
rest=${DESTINATION#s3://}
bucket=${rest%%/*}
prefix=""
if [ "$rest" != "$bucket" ]; then prefix=${rest#*/}; prefix=${prefix%/}; fi
if [ -n "${S3_ENDPOINT_URL:-}" ]; then set -- --endpoint-url "$S3_ENDPOINT_URL"; else set --; fi
for node_dir in "$dir"/*/; do
  node=$(basename "$node_dir")
  key="${prefix:+$prefix/}$node"
  aws "$@" s3 cp --only-show-errors "$node_dir/dump.rdb" "s3://$bucket/$key/dump-$stamp.rdb"
  keys=$(aws "$@" s3api list-objects-v2 --bucket "$bucket" --prefix "$key/dump-" \
         --query 'sort_by(Contents, &Key)[].Key' --output text)
  count=0
  for k in $keys; do count=$((count + 1)); done
  drop=$((count - SNAPSHOT_KEEP))
  for k in $keys; do
    [ "$drop" -gt 0 ] || break
    aws "$@" s3 rm --only-show-errors "s3://$bucket/$k"
    drop=$((drop - 1))
  done
  echo "$node: s3://$bucket/$key/dump-$stamp.rdb ($count snapshots before pruning, keeping $SNAPSHOT_KEEP)"
done
