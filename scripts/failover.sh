#!/usr/bin/env bash
# Manual PostgreSQL failover for the local cluster (scripts/cluster.sh),
# the operator's two steps:
#
#   scripts/failover.sh promote [--keep-old-primary]
#       Stops the primary if it still runs (so that there are never two
#       primaries; --keep-old-primary leaves it, for a split-brain drill),
#       promotes the replica and waits until it answers
#       pg_is_in_recovery() = false. The cluster's env then names it the
#       primary, and the old primary the replica, marked stale: it is not
#       started again until it has been rebuilt.
#   scripts/failover.sh rebuild-old-primary
#       Makes the server that is not the primary a streaming replica of
#       the primary: stops it, rewinds it with pg_rewind (the servers log
#       hint bits, wal_log_hints = on) or, if that fails, copies it afresh
#       with pg_basebackup, starts it and waits until it streams.
#
# The instances need no restart and no change: DATABASE_URL lists both
# servers and they look for the primary themselves.
# EMPORIUM_CLUSTER_DIR picks the cluster, as for scripts/cluster.sh.
set -euo pipefail

# shellcheck source=scripts/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

cmd_promote() {
  local keep=0 old new
  [ "${1:-}" != --keep-old-primary ] || keep=1
  load_env
  old=$CLUSTER_PG_PRIMARY new=$CLUSTER_PG_REPLICA
  [ "$CLUSTER_PG_REPLICA_STALE" = 0 ] \
    || die "$new is the old primary, not a replica: run rebuild-old-primary first"
  pid_of "$new" > /dev/null || die "the replica $new is not running"
  [ "$(pg_role "$new")" = standby ] || die "$new is not in recovery"
  if [ $keep = 0 ] && pid_of "$old" > /dev/null; then
    log "stop the old primary $old"
    stop_pg "$old"
  fi
  log "promote $new"
  pg_ctl_ -D "$dir/pg/$new" -w -t 60 promote > /dev/null
  wait_until 60 has_role "$new" primary || die "$new still in recovery after 60 s"
  # A checkpoint writes the new timeline to the control file, which
  # pg_rewind reads.
  psql_at "$new" -c checkpoint > /dev/null
  pg_configure_node "$new"
  CLUSTER_PG_PRIMARY=$new CLUSTER_PG_REPLICA=$old CLUSTER_PG_REPLICA_STALE=1
  write_env
  log "$new is the primary (port $(port "$new")); next: scripts/failover.sh rebuild-old-primary"
}

# pg_rewind from the primary; false when it cannot (the caller copies instead).
rewind() {
  local node=$1 primary=$2
  log "pg_rewind $node from $primary"
  pg_clear_stale_locks "$node"
  as_pg "$pgbin/pg_rewind" -D "$dir/pg/$node" \
    --source-server="host=127.0.0.1 port=$(port "$primary") user=postgres dbname=postgres" --no-sync \
    > "$dir/logs/$node-rewind.log" 2>&1
}

# Starts the rebuilt replica and waits until the primary sees it stream.
start_replica() {
  local node=$1 primary=$2
  log "start $node (replica of $primary)"
  CLUSTER_PG_REPLICA_STALE=0 start_pg "$node" && wait_streaming "$primary" "$node"
}

cmd_rebuild() {
  local node primary
  load_env
  node=$CLUSTER_PG_REPLICA primary=$CLUSTER_PG_PRIMARY
  [ "$(pg_role "$primary")" = primary ] || die "the primary $primary is not answering as a primary"
  stop_pg "$node"
  ensure_slot "$primary" "$node"
  if [ -s "$dir/pg/$node/PG_VERSION" ] && rewind "$node" "$primary"; then
    pg_configure_node "$node" "$primary"
    # Slots the server had as a primary would keep WAL on it for nobody.
    as_pg find "$dir/pg/$node/pg_replslot" -mindepth 1 -delete
    if ! (start_replica "$node" "$primary"); then
      warn "$node does not stream after pg_rewind (log: $dir/logs/$node.log)"
      stop_pg "$node"
      as_pg rm -rf "$dir/pg/$node"
    fi
  else
    warn "pg_rewind was not possible ($dir/logs/$node-rewind.log)"
    as_pg rm -rf "$dir/pg/$node"
  fi
  if [ ! -s "$dir/pg/$node/PG_VERSION" ]; then
    init_standby "$node" "$primary"
    start_replica "$node" "$primary" || die "$node is not streaming from $primary (log: $dir/logs/$node.log)"
  fi
  CLUSTER_PG_REPLICA_STALE=0
  write_env
  log "$node streams from $primary"
}

case ${1:-} in
  promote) cmd_promote "${2:-}" ;;
  rebuild-old-primary) cmd_rebuild ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
