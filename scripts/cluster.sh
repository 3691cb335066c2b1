#!/usr/bin/env bash
# A local copy of the production topology on 127.0.0.1, in one command, for
# developers and for CI's failure drills:
#
#   gateway    nginx: TLS on BASE, /api/auth/* and the JWKS to auth-1/auth-2,
#              the rest to api-1/api-2; an internal plain-HTTP listener on
#              BASE+1 for the provider's webhooks and the instances' JWKS
#   auth-1/2   emporium serve --role auth      api-1/2   --role api
#   worker     emporium serve --role worker    (payment queue, jobs)
#   paysim     emporium paysim: the payment provider (webhooks → BASE+1)
#   pg-1 pg-2  PostgreSQL: a primary and its streaming hot standby
#   redis-1/2/3  a Redis Cluster of three masters
#
# Usage: scripts/cluster.sh VERB [ARG]
#   up                  start whatever is not running (idempotent; installs
#                       missing packages with apt-get, then migrates, seeds
#                       the demo catalog and creates a staff account once)
#   down                stop everything and remove the cluster directory
#   status              one line per component; exits 1 if any is down
#   kill NAME           SIGKILL one component (a crash)
#   stop NAME           stop one component gracefully
#   start NAME          start it again with the same settings
#   restart-rolling [--no-drain]
#                       each auth/api/worker instance in turn: taken out of
#                       the gateway (marked down, nginx reloaded), SIGTERM,
#                       started again, ready, put back. --no-drain: SIGTERM
#                       only, the gateway's retries and passive health
#                       checks do the rest (slower: it waits out nginx's
#                       fail_timeout after each instance)
#   redis-stop-all | redis-start-all
#   env                 print the env file
#   NAME: gateway paysim auth-1 auth-2 api-1 api-2 worker redis-1 redis-2
#         redis-3 pg-1 pg-2, or primary / replica (the PostgreSQL server in
#         that role now; scripts/failover.sh swaps them)
#
# Settings (environment):
#   EMPORIUM_CLUSTER_DIR   state directory [target/cluster]; everything the
#                          cluster writes lives there, `down` removes it
#   EMPORIUM_CLUSTER_PORT  base port [19000]; the layout is in port_offset
#   EMPORIUM_BIN           the binary [target/debug/emporium]; `start` and
#                          `restart-rolling` pick up a new one (a rollout)
#   EMPORIUM_ADMIN_PASSWORD  the staff account's password [random]
#   EMPORIUM_CLUSTER_OVERRIDES  an env file `up` copies to etc/overrides.env
#                          (settings of every instance, read last)
#
# Other programs find everything in DIR/env (KEY='value' lines: source it
# with `set -a; . DIR/env; set +a`). Instances read DIR/etc/emporium.env,
# DIR/etc/NAME.env and, if present, DIR/etc/overrides.env (yours to write).
# scripts/failover.sh sources this file for its functions.
set -euo pipefail
umask 022

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$(realpath -m "${EMPORIUM_CLUSTER_DIR:-$root/target/cluster}")
pgbin=/usr/lib/postgresql/15/bin
# Start order; `down` and `status` go through the same list.
components=(pg-1 pg-2 redis-1 redis-2 redis-3 paysim auth-1 auth-2 api-1 api-2 worker gateway)
instances=(auth-1 auth-2 api-1 api-2 worker)

# ---------------------------------------------------------------- helpers

log() { printf '== %s\n' "$*"; }
warn() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# Runs a command as root: directly, or through sudo -n.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# Runs a PostgreSQL tool as the server's owner: `postgres` when we are root
# (PostgreSQL refuses to run as root), else ourselves.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Waits up to $1 seconds for the command after it to succeed.
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" > /dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Who listens on a TCP port (empty when nobody does).
port_user() { ss -Hltnp "sport = :$1" 2> /dev/null | awk '{print $4, $6}'; }

# ------------------------------------------------------------ ports, pids

# Each component's port is BASE + its offset; Redis also uses port + 10000
# (the cluster bus), the gateway BASE + 1 (its internal listener).
port_offset() {
  case $1 in
    gateway) echo 0 ;; internal) echo 1 ;; paysim) echo 10 ;;
    auth-1) echo 11 ;; auth-2) echo 12 ;; api-1) echo 13 ;; api-2) echo 14 ;;
    worker) echo 15 ;; pg-1) echo 20 ;; pg-2) echo 21 ;;
    redis-1) echo 30 ;; redis-2) echo 31 ;; redis-3) echo 32 ;;
    *) return 1 ;;
  esac
}
port() { echo $((CLUSTER_PORT + $(port_offset "$1"))); }

# Every port a component needs.
ports_of() {
  case $1 in
    gateway) port gateway; port internal ;;
    redis-*) port "$1"; echo $(($(port "$1") + 10000)) ;;
    *) port "$1" ;;
  esac
}

kind() {
  case $1 in
    pg-[12]) echo pg ;; redis-[123]) echo redis ;; gateway) echo nginx ;;
    paysim) echo paysim ;; auth-[12] | api-[12] | worker) echo instance ;;
    *) return 1 ;;
  esac
}

# `primary` and `replica` name whichever PostgreSQL server has that role.
resolve() {
  case $1 in
    primary) echo "$CLUSTER_PG_PRIMARY" ;;
    replica) echo "$CLUSTER_PG_REPLICA" ;;
    nginx) echo gateway ;;
    worker-1) echo worker ;;
    *) kind "$1" > /dev/null || die "unknown component '$1' (one of: ${components[*]} primary replica)"; echo "$1" ;;
  esac
}

pidfile() {
  case $1 in
    pg-*) echo "$dir/pg/$1/postmaster.pid" ;;
    *) echo "$dir/pids/$1.pid" ;;
  esac
}

# Whether a process is running (a zombie is not).
alive() {
  [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2> /dev/null
}

# The pid of a running component, when its pid file names a live process
# started from this cluster directory (a recycled pid is someone else's).
pid_of() {
  local f pid
  f=$(pidfile "$1")
  [ -r "$f" ] || return 1
  pid=$(head -n1 "$f" 2> /dev/null | tr -dc 0-9)
  alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir" || return 1
  echo "$pid"
}

# Signals a process and its children (nginx workers, PostgreSQL backends).
signal_tree() {
  local sig=$1 pid=$2 kids
  kids=$(pgrep -P "$pid" || true)
  kill "-$sig" "$pid" 2> /dev/null || true
  # shellcheck disable=SC2086 # one pid per word
  [ -z "$kids" ] || kill "-$sig" $kids 2> /dev/null || true
}

# SIGTERM (or $3), up to $2 seconds to exit, then SIGKILL.
terminate() {
  local pid=$1 secs=$2 sig=${3:-TERM}
  alive "$pid" || return 0
  kill "-$sig" "$pid" 2> /dev/null || true
  if ! wait_until "$secs" eval "! alive $pid"; then
    warn "pid $pid did not exit within ${secs}s: SIGKILL"
    signal_tree KILL "$pid"
    wait_until 5 eval "! alive $pid" || true
  fi
}

# Starts a command in the background, detached (own session, no terminal,
# reparented to init at once), output to logs/NAME.log, pid to pids/NAME.pid.
spawn() {
  local name=$1
  shift
  (setsid "$@" >> "$dir/logs/$name.log" 2>&1 < /dev/null & echo $! > "$dir/pids/$name.pid")
}

# ------------------------------------------------------------------ state

# The env file is the cluster's state: the settings chosen at `up` (base
# port, binary, admin account), which PostgreSQL server is the primary,
# and everything derived from them for other programs.
load_env() {
  [ -r "$dir/env" ] || die "no cluster in $dir (run scripts/cluster.sh up)"
  # shellcheck disable=SC1091
  . "$dir/env"
}

# Every server, comma-separated: the instances find the primary (and the
# Redis Cluster's slots) themselves.
database_urls() {
  echo "postgres://postgres@127.0.0.1:$(port pg-1)/emporium,postgres://postgres@127.0.0.1:$(port pg-2)/emporium"
}

redis_urls() {
  echo "redis://127.0.0.1:$(port redis-1),redis://127.0.0.1:$(port redis-2),redis://127.0.0.1:$(port redis-3)"
}

write_env() {
  local p r n name
  p=$(port "$CLUSTER_PG_PRIMARY")
  r=$(port "$CLUSTER_PG_REPLICA")
  {
    echo "# The local Emporium cluster, written by scripts/cluster.sh (and"
    echo "# scripts/failover.sh after a failover). Source it: set -a; . $dir/env; set +a"
    echo "CLUSTER_DIR='$dir'"
    echo "CLUSTER_PORT='$CLUSTER_PORT'"
    echo "CLUSTER_BIN='$CLUSTER_BIN'"
    echo "CLUSTER_GATEWAY_URL='https://127.0.0.1:$(port gateway)'"
    echo "CLUSTER_CA_CERT='$dir/nginx/tls/ca.crt'"
    echo "CLUSTER_INTERNAL_URL='http://127.0.0.1:$(port internal)'"
    echo "CLUSTER_PAYSIM_URL='http://127.0.0.1:$(port paysim)'"
    for name in "${components[@]}"; do
      n=$(echo "$name" | tr 'a-z-' 'A-Z_')
      echo "CLUSTER_${n}_PORT='$(port "$name")'"
      echo "CLUSTER_${n}_PIDFILE='$(pidfile "$name")'"
    done
    echo "CLUSTER_INTERNAL_PORT='$(port internal)'"
    echo "CLUSTER_LOGS='$dir/logs'"
    echo "CLUSTER_PG_PRIMARY='$CLUSTER_PG_PRIMARY'"
    echo "CLUSTER_PG_REPLICA='$CLUSTER_PG_REPLICA'"
    echo "# 1 after a promotion until scripts/failover.sh rebuild-old-primary:"
    echo "# the replica is the old primary and must not be started as it is."
    echo "CLUSTER_PG_REPLICA_STALE='$CLUSTER_PG_REPLICA_STALE'"
    echo "CLUSTER_PRIMARY_PORT='$p'"
    echo "CLUSTER_REPLICA_PORT='$r'"
    echo "CLUSTER_PRIMARY_URL='postgres://postgres@127.0.0.1:$p/emporium'"
    echo "CLUSTER_REPLICA_URL='postgres://postgres@127.0.0.1:$r/emporium'"
    echo "CLUSTER_PSQL_PRIMARY='psql -h 127.0.0.1 -p $p -U postgres -d emporium'"
    echo "CLUSTER_PSQL_REPLICA='psql -h 127.0.0.1 -p $r -U postgres -d emporium'"
    echo "DATABASE_URL='$(database_urls)'"
    echo "REDIS_URL='$(redis_urls)'"
    echo "CLUSTER_REDIS_CLI='redis-cli -c -h 127.0.0.1 -p $(port redis-1)'"
    echo "CLUSTER_ADMIN_EMAIL='$CLUSTER_ADMIN_EMAIL'"
    echo "CLUSTER_ADMIN_PASSWORD='$CLUSTER_ADMIN_PASSWORD'"
  } > "$dir/env.tmp"
  chmod 600 "$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
}

# The binary: $EMPORIUM_BIN, else the one recorded at `up`, else the debug
# build. A new one is recorded, so later starts use it too.
choose_binary() {
  local bin=${EMPORIUM_BIN:-${CLUSTER_BIN:-$root/target/debug/emporium}}
  bin=$(realpath -m "$bin")
  [ -x "$bin" ] || die "no emporium binary at $bin: run cargo build -p emporium (or set EMPORIUM_BIN)"
  if [ "${CLUSTER_BIN:-}" != "$bin" ] && [ -r "$dir/env" ]; then
    CLUSTER_BIN=$bin
    write_env
  fi
  CLUSTER_BIN=$bin
}

# ------------------------------------------------------------- PostgreSQL

psql_at() {
  local node=$1
  shift
  psql -X -q -h 127.0.0.1 -p "$(port "$node")" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"
}

pg_role() {
  case $(psql_at "$1" -c 'select pg_is_in_recovery()' 2> /dev/null) in
    f) echo primary ;; t) echo standby ;; *) echo down ;;
  esac
}

has_role() { [ "$(pg_role "$1")" = "$2" ]; }

# A replication slot on the primary for the standby `node`, so that the
# primary keeps the WAL it has not received yet (bounded by
# max_slot_wal_keep_size).
ensure_slot() {
  local primary=$1 slot=${2//-/_}
  psql_at "$primary" -c "select pg_create_physical_replication_slot('$slot', true)
    where not exists (select from pg_replication_slots where slot_name = '$slot')" > /dev/null
}

# The settings every server shares, appended once after initdb (copied to
# the standby by pg_basebackup and pg_rewind); each server's own settings
# are in cluster-node.conf (see pg_configure_node).
pg_shared_settings() {
  cat << 'CONF'

# scripts/cluster.sh: a local primary and streaming standby.
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
max_slot_wal_keep_size = '1GB'
hot_standby = on
hot_standby_feedback = on
# pg_rewind needs hint-bit changes logged (or data checksums).
wal_log_hints = on
# A test cluster: no fsync (safe against killed processes, not against a
# crash of the machine; initdb, pg_basebackup and pg_rewind skip it too).
fsync = off
include_if_exists = 'cluster-node.conf'
CONF
}

# Writes one server's own settings: its port and socket directory, and,
# as a standby, whom it follows. Removes what pg_basebackup -R or
# pg_rewind left in postgresql.auto.conf, which would win over them.
pg_configure_node() {
  local node=$1 follow=${2:-} data=$dir/pg/$1
  {
    echo "# Written by scripts/cluster.sh: $node's own settings."
    echo "port = $(port "$node")"
    echo "unix_socket_directories = '$dir/pg/run'"
    echo "cluster_name = 'emporium-$node'"
    if [ -n "$follow" ]; then
      echo "primary_conninfo = 'host=127.0.0.1 port=$(port "$follow") user=postgres application_name=$node'"
      echo "primary_slot_name = '${node//-/_}'"
    fi
  } | as_pg tee "$data/cluster-node.conf" > /dev/null
  as_pg sed -i '/^primary_conninfo\|^primary_slot_name/d' "$data/postgresql.auto.conf"
  if [ -n "$follow" ]; then
    as_pg touch "$data/standby.signal"
  else
    as_pg rm -f "$data/standby.signal"
  fi
}

pg_ctl_() { as_pg "$pgbin/pg_ctl" "$@"; }

# After a crash, the lock files still name the dead postmaster; once its
# pid is reused by another process, PostgreSQL (and pg_rewind) refuse to
# start. pid_of tells whether that pid is still this server.
pg_clear_stale_locks() {
  local node=$1 sock
  sock=$dir/pg/run/.s.PGSQL.$(port "$node")
  pid_of "$node" > /dev/null && return 0
  as_pg rm -f "$dir/pg/$node/postmaster.pid" "$sock" "$sock.lock"
}

start_pg() {
  local node=$1 data=$dir/pg/$1
  [ -s "$data/PG_VERSION" ] || die "$node has no data directory (run up)"
  if [ "$node" = "$CLUSTER_PG_REPLICA" ] && [ "$CLUSTER_PG_REPLICA_STALE" = 1 ]; then
    die "$node is the old primary: started as it is it would be a second primary. Run scripts/failover.sh rebuild-old-primary"
  fi
  # The server appends to its log itself.
  touch "$dir/logs/$node.log"
  [ "$(id -u)" != 0 ] || chown postgres "$dir/logs/$node.log"
  # Backends of a killed server may take a moment to go.
  wait_until 10 eval "[ -z \"\$(port_user $(port "$node"))\" ]" || true
  pg_clear_stale_locks "$node"
  if ! pg_ctl_ -D "$data" -l "$dir/logs/$node.log" -w -t 60 start > /dev/null; then
    tail -n 20 "$dir/logs/$node.log" >&2
    die "$node did not start (log: $dir/logs/$node.log)"
  fi
}

stop_pg() {
  local node=$1 pid
  pid=$(pid_of "$node") || return 0
  pg_ctl_ -D "$dir/pg/$node" -m fast -w -t 30 stop > /dev/null 2>&1 || {
    warn "pg_ctl stop failed for $node: SIGKILL"
    signal_tree KILL "$pid"
  }
  wait_until 10 eval "! alive $pid" || true
}

# Whether the primary sees `standby` streaming.
is_streaming() {
  local primary=$1 standby=$2
  [ "$(psql_at "$primary" -c "select state from pg_stat_replication
    where application_name = '$standby'" 2> /dev/null)" = streaming ]
}

wait_streaming() { wait_until 60 is_streaming "$@"; }

init_primary() {
  local node=$1 data=$dir/pg/$1
  [ -s "$data/PG_VERSION" ] && return 0
  log "initdb $node"
  as_pg "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-instructions --no-sync > "$dir/logs/$node-initdb.log"
  pg_shared_settings | as_pg tee -a "$data/postgresql.conf" > /dev/null
  pg_configure_node "$node"
}

init_standby() {
  local node=$1 primary=$2 data=$dir/pg/$1
  [ -s "$data/PG_VERSION" ] && return 0
  log "pg_basebackup $primary → $node"
  as_pg rm -rf "$data"
  ensure_slot "$primary" "$node"
  as_pg "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$(port "$primary")" -U postgres -D "$data" \
    -R -X stream -S "${node//-/_}" -c fast --no-sync > "$dir/logs/$node-basebackup.log" 2>&1 \
    || die "pg_basebackup failed: $dir/logs/$node-basebackup.log"
  pg_configure_node "$node" "$primary"
}

up_postgres() {
  local p=$CLUSTER_PG_PRIMARY r=$CLUSTER_PG_REPLICA
  mkdir -p "$dir/pg/run"
  [ "$(id -u)" != 0 ] || chown postgres:postgres "$dir/pg" "$dir/pg/run"
  as_pg test -w "$dir/pg" || die "the postgres user cannot write $dir/pg (is every parent directory of $dir searchable by others?); set EMPORIUM_CLUSTER_DIR elsewhere"
  init_primary "$p"
  pid_of "$p" > /dev/null || { log "start $p (primary)"; start_pg "$p"; }
  if [ -z "$(psql_at "$p" -c "select 1 from pg_database where datname = 'emporium'")" ]; then
    psql_at "$p" -c 'create database emporium' > /dev/null
  fi
  if [ "$CLUSTER_PG_REPLICA_STALE" = 1 ]; then
    warn "no replica: $r is the old primary (run scripts/failover.sh rebuild-old-primary)"
    return 0
  fi
  init_standby "$r" "$p"
  pid_of "$r" > /dev/null || { log "start $r (replica)"; start_pg "$r"; }
  wait_streaming "$p" "$r" || die "$r is not streaming from $p (log: $dir/logs/$r.log)"
}

# ------------------------------------------------------------------ Redis

redis_cli() { redis-cli -h 127.0.0.1 -p "$(port "$1")" "${@:2}"; }

redis_conf() {
  local name=$1 d=$dir/redis/$1
  mkdir -p "$d"
  cat > "$d/redis.conf" << CONF
# Written by scripts/cluster.sh: $name of the local Redis Cluster.
port $(port "$name")
bind 127.0.0.1
cluster-enabled yes
cluster-config-file $d/nodes.conf
cluster-node-timeout 5000
dir $d
save ""
appendonly no
daemonize no
logfile ""
proc-title-template "{title} {listen-addr} {server-mode} {config-file}"
CONF
}

start_redis() {
  local name=$1
  [ -f "$dir/redis/$name/redis.conf" ] || redis_conf "$name"
  spawn "$name" redis-server "$dir/redis/$name/redis.conf"
  wait_until 10 redis_cli "$name" ping || die "$name did not start (log: $dir/logs/$name.log)"
}

redis_cluster_ok() {
  local n
  for n in redis-1 redis-2 redis-3; do
    redis_cli "$n" cluster info 2> /dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

up_redis() {
  local n nodes=()
  for n in redis-1 redis-2 redis-3; do
    pid_of "$n" > /dev/null || { log "start $n"; start_redis "$n"; }
    nodes+=("127.0.0.1:$(port "$n")")
  done
  if ! redis_cli redis-1 cluster info | grep -q '^cluster_slots_assigned:16384'; then
    log "create the Redis Cluster"
    for n in redis-1 redis-2 redis-3; do  # a half-made cluster starts again
      redis_cli "$n" flushall > /dev/null
      redis_cli "$n" cluster reset hard > /dev/null
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
      > "$dir/logs/redis-cluster-create.log" 2>&1 \
      || die "redis-cli --cluster create failed: $dir/logs/redis-cluster-create.log"
  fi
  wait_until 30 redis_cluster_ok || die "the Redis Cluster is not ok: redis-cli -p $(port redis-1) cluster info"
}

# ---------------------------------------------------- emporium processes

# The settings every instance shares (like /etc/emporium/emporium.env).
write_instance_env() {
  local name ps
  ps=$(port paysim)
  mkdir -p "$dir/etc"
  cat > "$dir/etc/emporium.env" << ENV
# Written by scripts/cluster.sh: what every instance shares. Overrides go
# in overrides.env beside it (read last, never rewritten).
DATABASE_URL=$(database_urls)
REDIS_URL=$(redis_urls)
EMPORIUM_SERVER__TRUST_FORWARDED_FOR=true
EMPORIUM_SERVER__SECURE_COOKIES=true
EMPORIUM_STORE__SEED_DEMO_WHEN_EMPTY=false
EMPORIUM_PAYMENTS__MODE=provider
EMPORIUM_PAYMENTS__PROVIDER_URL=http://127.0.0.1:$ps
EMPORIUM_PAYMENTS__TOKENIZATION_URL=http://127.0.0.1:$ps/v1/payment_methods
# The API and worker instances verify tokens with the auth instances' keys,
# read through the gateway (its internal listener); auth instances sign
# with the keys in the store and ignore it.
EMPORIUM_AUTH__JWKS_URL=http://127.0.0.1:$(port internal)/.well-known/jwks.json
EMPORIUM_LOG__FORMAT=json
RUST_LOG=info
ENV
  for name in "${instances[@]}"; do
    cat > "$dir/etc/$name.env" << ENV
# Written by scripts/cluster.sh: $name's role and address.
EMPORIUM_SERVER__ROLE=${name%-?}
EMPORIUM_SERVER__ADDR=127.0.0.1:$(port "$name")
ENV
  done
}

# The KEY=value lines of env files, one per line, comments left out.
env_lines() { cat "$@" 2> /dev/null | grep -E '^[A-Za-z_][A-Za-z0-9_]*=' || true; }

start_instance() {
  local name=$1 vars=()
  mkdir -p "$dir/instances/$name"
  mapfile -t vars < <(env_lines "$dir/etc/emporium.env" "$dir/etc/$name.env" "$dir/etc/overrides.env")
  spawn "$name" env -i PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 "${vars[@]}" \
    "$CLUSTER_BIN" serve --data-dir "$dir/instances/$name"
}

# Starts those of the named instances that are not running, together, and
# waits until each is ready.
start_instances() {
  local name
  for name in "$@"; do
    pid_of "$name" > /dev/null || { log "start $name"; start_instance "$name"; }
  done
  for name in "$@"; do wait_ready "$name"; done
}

instance_ready() {
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$(port "$1")/health/ready"
}

wait_ready() {
  local name=$1 pid
  pid=$(cat "$dir/pids/$name.pid")
  wait_until 90 eval "instance_ready $name || ! alive $pid" || true
  if ! instance_ready "$name"; then
    tail -n 5 "$dir/logs/$name.log" >&2
    die "$name is not ready on port $(port "$name") (log: $dir/logs/$name.log)"
  fi
}

start_paysim() {
  mkdir -p "$dir/paysim"
  spawn paysim env -i PATH="$PATH" HOME="${HOME:-/}" RUST_LOG=info "$CLUSTER_BIN" paysim \
    --addr "127.0.0.1:$(port paysim)" --ledger "$dir/paysim/ledger.db" \
    --webhook-url "http://127.0.0.1:$(port internal)/api/webhooks/payments"
  wait_until 20 paysim_ready || die "paysim did not start (log: $dir/logs/paysim.log)"
}

# paysim answers with its default (test) secret key.
paysim_ready() {
  curl -sf -o /dev/null --max-time 2 -H 'Authorization: Bearer sk_test_paysim' \
    "http://127.0.0.1:$(port paysim)/_control/faults"
}

# Runs `emporium ARGS` once against the primary (one URL: these tools
# write, and run before any instance could pick the primary for them).
emporium_tool() {
  env -i PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 \
    DATABASE_URL="postgres://postgres@127.0.0.1:$(port "$CLUSTER_PG_PRIMARY")/emporium" \
    EMPORIUM_ADMIN_PASSWORD="$CLUSTER_ADMIN_PASSWORD" \
    "$CLUSTER_BIN" "$@" --data-dir "$dir/instances/tools" >> "$dir/logs/tools.log" 2>&1
}

# Migrations, the demo catalog and the staff account, each once.
prepare_database() {
  mkdir -p "$dir/instances/tools"
  log "emporium migrate"
  emporium_tool migrate || die "emporium migrate failed: $dir/logs/tools.log"
  if [ ! -e "$dir/state/seeded" ]; then
    log "emporium seed (demo catalog)"
    emporium_tool seed || die "emporium seed failed: $dir/logs/tools.log"
    touch "$dir/state/seeded"
  fi
  if [ ! -e "$dir/state/admin" ]; then
    log "emporium admin create $CLUSTER_ADMIN_EMAIL"
    emporium_tool admin create --email "$CLUSTER_ADMIN_EMAIL" --name "Cluster Admin" \
      || grep -qi 'already\|taken\|exists' <(tail -n 3 "$dir/logs/tools.log") \
      || die "emporium admin create failed: $dir/logs/tools.log"
    touch "$dir/state/admin"
  fi
}

# ---------------------------------------------------------------- gateway

# upstreams.conf with the cluster's ports (the shipped file's 8081-8084
# replaced); `drained` is marked down, so nginx sends it nothing.
write_upstreams() {
  local drained=${1:-} name i=1 sed_args=()
  for name in auth-1 auth-2 api-1 api-2; do
    local from=$((8080 + i)) mark=""
    [ "$name" = "$drained" ] && mark=" down"
    sed_args+=(-e "s/127\.0\.0\.1:$from\( [^;]*\);/127.0.0.1:$(port "$name")\1$mark;/")
    i=$((i + 1))
  done
  sed "${sed_args[@]}" "$root/deploy/nginx/upstreams.conf" > "$dir/nginx/upstreams.conf"
  for name in auth-1 auth-2 api-1 api-2; do
    grep -q "127.0.0.1:$(port "$name") " "$dir/nginx/upstreams.conf" \
      || die "deploy/nginx/upstreams.conf no longer has the server 127.0.0.1:80xx this script replaces for $name"
  done
}

write_gateway_conf() {
  local n=$dir/nginx user_line=""
  mkdir -p "$n/tmp" "$n/cache"
  [ -s "$n/tls/ca.crt" ] || bash "$root/deploy/nginx/make-cert.sh" "$n" > /dev/null
  # The shipped configuration, listening on the cluster's port.
  sed "s/listen 127\.0\.0\.1:8443 /listen 127.0.0.1:$(port gateway) /" \
    "$root/deploy/nginx/emporium.conf" > "$n/emporium.conf"
  grep -q "listen 127.0.0.1:$(port gateway) " "$n/emporium.conf" \
    || die "deploy/nginx/emporium.conf no longer listens on 127.0.0.1:8443, which this script replaces"
  write_upstreams
  if [ "$(id -u)" = 0 ]; then
    # Workers write the asset cache; nginx makes its cache and temporary
    # directories theirs.
    user_line="user nobody $(id -gn nobody);"
  fi
  cat > "$n/nginx.conf" << CONF
# Written by scripts/cluster.sh: the local cluster's gateway, nginx -p $n/
$user_line
worker_processes 2;
pid $dir/pids/gateway.pid;
error_log $dir/logs/gateway-error.log warn;
events { worker_connections 1024; }
http {
    log_format cluster '\$remote_addr "\$request" \$status id=\$emporium_request_id '
                       'upstream=\$upstream_addr upstream_status=\$upstream_status '
                       'time=\$request_time';
    access_log $dir/logs/gateway-access.log cluster;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path       $n/tmp/proxy;
    fastcgi_temp_path     $n/tmp/fastcgi;
    uwsgi_temp_path       $n/tmp/uwsgi;
    scgi_temp_path        $n/tmp/scgi;
    include emporium.conf;

    # The internal listener, plain HTTP: paysim's webhooks (it sends no
    # TLS) to the API instances, and the auth instances' JWKS to the API
    # and worker instances (which do not trust the self-signed
    # certificate). Nothing else. Webhook events carry an id the API
    # deduplicates, so a delivery may be repeated on the other instance.
    server {
        listen 127.0.0.1:$(port internal);
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For \$remote_addr;
        location = /api/webhooks/payments {
            proxy_next_upstream error timeout http_502 http_504 non_idempotent;
            proxy_pass http://emporium_api;
        }
        location = /.well-known/jwks.json {
            proxy_pass http://emporium_auth;
        }
        location / { return 404; }
    }
}
CONF
}

nginx_() { "$(command -v nginx || echo /usr/sbin/nginx)" -p "$dir/nginx/" -c "$dir/nginx/nginx.conf" -e "$dir/logs/gateway-error.log" "$@"; }

start_gateway() {
  nginx_ -t -q || die "nginx -t failed for $dir/nginx/nginx.conf"
  nginx_
  wait_until 10 pid_of gateway || die "nginx did not start (log: $dir/logs/gateway-error.log)"
}

# Reloads nginx's configuration (new workers; old ones finish their requests).
reload_gateway() {
  local pid
  pid=$(pid_of gateway) || return 0
  kill -HUP "$pid"
  sleep 1
}

gateway_get() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$dir/nginx/tls/ca.crt" \
    "https://127.0.0.1:$(port gateway)$1"
}

gateway_ready() { [ "$(gateway_get /health/ready)" = 200 ]; }

# What `up` promises: health, a search and the auth instances through the gateway.
check_gateway() {
  local code
  wait_until 20 gateway_ready || die "https://127.0.0.1:$(port gateway)/health/ready does not answer 200"
  code=$(gateway_get '/api/products?q=tv')
  [ "$code" = 200 ] || die "a search through the gateway answered $code"
  code=$(gateway_get /.well-known/jwks.json)
  [ "$code" = 200 ] || die "the JWKS (auth instances) through the gateway answered $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/nginx/tls/ca.crt" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"$CLUSTER_ADMIN_EMAIL\",\"password\":\"$CLUSTER_ADMIN_PASSWORD\"}" \
    "https://127.0.0.1:$(port gateway)/api/auth/login")
  [ "$code" = 200 ] || die "signing in as $CLUSTER_ADMIN_EMAIL through the gateway answered $code"
}

# -------------------------------------------------- one component by name

start_component() {
  local name=$1 p busy
  if pid_of "$name" > /dev/null; then
    echo "$name is already running"
    return 0
  fi
  for p in $(ports_of "$name"); do
    busy=$(port_user "$p")
    [ -z "$busy" ] || die "port $p ($name) is taken: $busy"
  done
  case $(kind "$name") in
    pg) start_pg "$name" ;;
    redis)
      start_redis "$name"
      if pid_of redis-1 > /dev/null && pid_of redis-2 > /dev/null && pid_of redis-3 > /dev/null; then
        wait_until 30 redis_cluster_ok || warn "the Redis Cluster is not ok 30 s after $name started"
      fi ;;
    paysim) start_paysim ;;
    instance) start_instance "$name"; wait_ready "$name" ;;
    nginx) write_upstreams; start_gateway ;;
  esac
}

stop_component() {
  local name=$1 pid
  case $(kind "$name") in
    pg) stop_pg "$name"; return ;;
  esac
  pid=$(pid_of "$name") || return 0
  case $(kind "$name") in
    nginx) terminate "$pid" 30 QUIT ;;
    instance) terminate "$pid" 35 ;;
    *) terminate "$pid" 15 ;;
  esac
}

# A crash: SIGKILL, children included (PostgreSQL's backends, nginx's workers).
kill_component() {
  local name=$1 pid
  pid=$(pid_of "$name") || { echo "$name is not running"; return 0; }
  signal_tree KILL "$pid"
  wait_until 10 eval "! alive $pid" || true
}

# -------------------------------------------------------------------- verbs

ensure_packages() {
  local need=()
  command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v redis-server > /dev/null || need+=(redis-server)
  command -v redis-cli > /dev/null || need+=(redis-tools)
  [ -x "$pgbin/initdb" ] || need+=(postgresql)
  command -v openssl > /dev/null || need+=(openssl)
  command -v curl > /dev/null || need+=(curl)
  command -v ss > /dev/null || need+=(iproute2)
  [ ${#need[@]} = 0 ] && return 0
  log "apt-get install ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null \
    || die "cannot install ${need[*]}"
}

# Fails before starting anything when a port a stopped component needs is taken.
check_ports() {
  local name p busy bad=0
  for name in "${components[@]}"; do
    pid_of "$name" > /dev/null && continue
    for p in $(ports_of "$name"); do
      busy=$(port_user "$p")
      if [ -n "$busy" ]; then
        warn "port $p ($name) is taken: $busy"
        bad=1
      fi
    done
  done
  [ $bad = 0 ] || die "choose another base port: EMPORIUM_CLUSTER_PORT=N scripts/cluster.sh up (ports N to N+32 and N+10030 to N+10032)"
}

# The cluster's settings: those of an existing cluster, else new ones.
init_state() {
  mkdir -p "$dir"
  if [ -r "$dir/env" ]; then
    load_env
    [ -z "${EMPORIUM_CLUSTER_PORT:-}" ] || [ "$EMPORIUM_CLUSTER_PORT" = "$CLUSTER_PORT" ] \
      || warn "the cluster in $dir uses base port $CLUSTER_PORT, not $EMPORIUM_CLUSTER_PORT"
    return 0
  fi
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty and has no cluster env file; remove it or choose EMPORIUM_CLUSTER_DIR"
  case $dir in *"'"* | *" "*) die "the cluster directory may not contain quotes or spaces: $dir" ;; esac
  CLUSTER_PORT=${EMPORIUM_CLUSTER_PORT:-19000}
  if ! [[ $CLUSTER_PORT =~ ^[0-9]+$ ]] || ((CLUSTER_PORT < 1024 || CLUSTER_PORT + 10032 > 65535)); then
    die "EMPORIUM_CLUSTER_PORT must be between 1024 and 55503 (Redis's bus ports are port + 10000)"
  fi
  touch "$dir/.emporium-cluster"
  CLUSTER_BIN=""
  CLUSTER_PG_PRIMARY=pg-1
  CLUSTER_PG_REPLICA=pg-2
  CLUSTER_PG_REPLICA_STALE=0
  CLUSTER_ADMIN_EMAIL=admin@example.com
  CLUSTER_ADMIN_PASSWORD=${EMPORIUM_ADMIN_PASSWORD:-$(openssl rand -hex 12)}
  write_env
}

cmd_up() {
  ensure_packages
  init_state
  choose_binary
  check_ports
  mkdir -p "$dir/logs" "$dir/pids" "$dir/state" "$dir/nginx" "$dir/etc"
  if [ -n "${EMPORIUM_CLUSTER_OVERRIDES:-}" ]; then
    cp "$EMPORIUM_CLUSTER_OVERRIDES" "$dir/etc/overrides.env"
  fi
  up_postgres
  up_redis
  write_instance_env
  prepare_database
  write_gateway_conf
  pid_of paysim > /dev/null || { log "start paysim"; start_paysim; }
  if pid_of gateway > /dev/null; then reload_gateway; else log "start the gateway"; start_gateway; fi
  # The auth instances first: the others read their keys (JWKS) at start.
  start_instances auth-1 auth-2
  start_instances api-1 api-2 worker
  check_gateway
  log "up: https://127.0.0.1:$(port gateway) (settings and state: $dir/env)"
}

cmd_down() {
  local name left
  [ -d "$dir" ] || { echo "no cluster in $dir"; return 0; }
  [ -e "$dir/.emporium-cluster" ] || die "$dir is not a cluster directory (no .emporium-cluster): not removing it"
  # shellcheck disable=SC1091
  [ -r "$dir/env" ] && . "$dir/env"
  log "stop every component"
  for name in gateway "${instances[@]}" paysim redis-1 redis-2 redis-3; do
    stop_component "$name" &
  done
  wait
  for name in pg-2 pg-1; do stop_component "$name" & done
  wait
  left=$(for name in "${components[@]}"; do pid_of "$name" || true; done)
  [ -z "$left" ] || die "still running: $left (not removing $dir)"
  rm -rf "$dir"
  log "down: $dir removed"
}

# How far a replica's replay is behind the primary's WAL, as the primary sees it.
replica_lag() {
  local lag
  lag=$(psql_at "$CLUSTER_PG_PRIMARY" -c "select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)
    || ' bytes' from pg_stat_replication where application_name = '$1'" 2> /dev/null) \
    || lag="unknown (the primary does not answer)"
  echo "${lag:-unknown (not connected to the primary)}"
}

# One line for a PostgreSQL server: its role and the replication state.
pg_detail() {
  local node=$1 role
  role=$(pg_role "$node")
  case $role in
    primary)
      echo "primary; replicas: $(psql_at "$node" -c "select coalesce(string_agg(application_name
        || ' ' || state || ' lag ' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)
        || ' bytes', ', '), 'none') from pg_stat_replication")" ;;
    standby)
      echo "in recovery (replica of $CLUSTER_PG_PRIMARY); receiver $(psql_at "$node" -c "select
        coalesce((select status || ' from port ' || sender_port from pg_stat_wal_receiver), 'not connected')
        || ', last transaction replayed ' || coalesce(round(extract(epoch from
        now() - pg_last_xact_replay_timestamp()))::text || ' s ago', 'never')"); lag $(replica_lag "$node")" ;;
    *) echo "not answering" ;;
  esac
}

cmd_status() {
  local name pid state detail code bad=0
  load_env
  printf '%-8s %-6s %-8s %-5s %s\n' NAME PORT PID STATE DETAIL
  for name in "${components[@]}"; do
    pid=$(pid_of "$name" || echo -)
    state=down detail=""
    if [ "$pid" != - ]; then
      state=up
      case $(kind "$name") in
        pg)
          detail=$(pg_detail "$name") ;;
        redis) detail=$(redis_cli "$name" cluster info 2> /dev/null | tr -d '\r' \
          | awk -F: '/^cluster_state|^cluster_slots_ok|^cluster_known_nodes/ {printf "%s ", $0}') ;;
        instance)
          code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(port "$name")/health/ready" || true)
          detail="ready $code"
          [ "$code" = 200 ] || state=unready ;;
        paysim)
          detail=$CLUSTER_PAYSIM_URL
          paysim_ready || state=unready ;;
        nginx)
          code=$(gateway_get /health/ready || true)
          detail="$CLUSTER_GATEWAY_URL /health/ready $code; internal listener $CLUSTER_INTERNAL_URL" ;;
      esac
    elif [ "$(kind "$name")" = pg ] && [ "$name" = "$CLUSTER_PG_REPLICA" ] && [ "$CLUSTER_PG_REPLICA_STALE" = 1 ]; then
      detail="old primary: scripts/failover.sh rebuild-old-primary"
    fi
    [ "$state" = up ] || bad=1
    printf '%-8s %-6s %-8s %-5s %s\n' "$name" "$(port "$name")" "$pid" "$state" "$detail"
  done
  return $bad
}

cmd_restart_rolling() {
  local name drain=1 pid
  [ "${1:-}" != --no-drain ] || drain=0
  load_env
  choose_binary
  pid_of gateway > /dev/null || drain=0
  for name in "${instances[@]}"; do
    log "restart $name"
    if [ $drain = 1 ] && [ "$name" != worker ]; then
      write_upstreams "$name"
      reload_gateway
    fi
    pid=$(pid_of "$name" || true)
    [ -z "$pid" ] || terminate "$pid" 35
    start_instance "$name"
    wait_ready "$name"
    if [ "$name" = worker ]; then
      continue
    elif [ $drain = 1 ]; then
      write_upstreams
      reload_gateway
    else
      # nginx counts the refused connections as failures and leaves the
      # instance out for fail_timeout even once it is back; restarting the
      # next one sooner can leave nginx with no instance at all.
      sleep "$(fail_timeout)"
    fi
  done
}

# The upstreams' fail_timeout in seconds (deploy/nginx/upstreams.conf), plus one.
fail_timeout() {
  local t
  t=$(grep -o 'fail_timeout=[0-9]*s\{0,1\}' "$root/deploy/nginx/upstreams.conf" | head -n1 | tr -dc 0-9)
  echo $((${t:-10} + 1))
}

cmd_one() {
  local verb=$1 name
  [ -n "${2:-}" ] || die "usage: scripts/cluster.sh $verb NAME"
  load_env
  name=$(resolve "$2")
  case $verb in
    kill) kill_component "$name" ;;
    stop) stop_component "$name" ;;
    start)
      case $(kind "$name") in instance | paysim) choose_binary ;; esac
      start_component "$name" ;;
  esac
  echo "$verb $name: done"
}

cmd_redis_all() {
  local name
  load_env
  for name in redis-1 redis-2 redis-3; do
    case $1 in
      stop) stop_component "$name" ;;
      start) start_component "$name" ;;  # the last one waits for cluster_state:ok
    esac
  done
}

main() {
  case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    kill | stop | start) cmd_one "$@" ;;
    restart-rolling) cmd_restart_rolling "${2:-}" ;;
    redis-stop-all) cmd_redis_all stop ;;
    redis-start-all) cmd_redis_all start ;;
    env) load_env; cat "$dir/env" ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
