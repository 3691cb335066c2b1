#!/usr/bin/env bash
# Failure drills: brings up the local cluster (scripts/cluster.sh: nginx, two
# auth and two API instances, a worker, PostgreSQL primary + streaming
# replica, a 3-node Redis Cluster, paysim) in a directory and on ports of its
# own, then runs `emporium drill` once per fault: a steady mix of searches,
# product pages, cart adds, checkouts and payments through the gateway at a
# fixed rate while the fault is injected and ended. Each drill prints reads
# answered, writes acknowledged vs found, responses by status and the time to
# full recovery, and fails when the bar is missed (reads >= 99.9 %, no
# acknowledged write lost, no 500, recovered within 30 s of the fault's end).
# The cluster is torn down at the end, whatever happened.
#
# Usage: scripts/drill.sh [DRILL...]   (default: all, in this order)
#   replica-killed primary-stopped api-killed rolling-restart
#   redis-node-killed redis-stopped primary-promoted
# Settings: EMPORIUM_BIN (default target/debug/emporium, built if missing),
# DRILL_RATE (operations/s, default 30), DRILL_OUT (reports, default
# target/drills), DRILL_PRIMARY_OUTAGE (seconds, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ -x "${EMPORIUM_BIN:-target/debug/emporium}" ] || cargo build -p emporium
EMPORIUM_BIN=$(realpath "${EMPORIUM_BIN:-target/debug/emporium}")
export EMPORIUM_BIN
work=$(mktemp -d)
# The postgres user runs the database servers in it.
chmod 755 "$work"
export EMPORIUM_CLUSTER_DIR=$work/cluster
# A base port of its own (the layout spans base..base+32, Redis's bus ports
# base+10030..10032): the gateway's port must be free; cluster.sh checks all.
while :; do
  base=$((20000 + RANDOM % 250 * 100))
  ! (echo > "/dev/tcp/127.0.0.1/$base") 2> /dev/null && break
done
export EMPORIUM_CLUSTER_PORT=${EMPORIUM_CLUSTER_PORT:-$base}
out=${DRILL_OUT:-target/drills}
mkdir -p "$out"
rate=${DRILL_RATE:-30}
outage=${DRILL_PRIMARY_OUTAGE:-60}
cluster="$root/scripts/cluster.sh"
failover="$root/scripts/failover.sh"

cleanup() {
  "$cluster" down > /dev/null 2>&1 || "$cluster" down || true
  rm -rf "$work"
}
trap cleanup EXIT

# The drill's load comes from one address: the application's per-address
# limits would answer it 429 (the gateway's are above its rate).
cat > "$work/overrides.env" << ENV
EMPORIUM_LIMITS__API_REQUESTS_PER_IP=1000000
EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP=1000000
EMPORIUM_LIMITS__CARTS_PER_IP=1000000
EMPORIUM_LIMITS__CHECKOUTS_PER_IP=1000000
EMPORIUM_LIMITS__PAYMENT_ATTEMPTS_PER_IP=1000000
ENV
export EMPORIUM_CLUSTER_OVERRIDES=$work/overrides.env
"$cluster" up
set -a
# shellcheck disable=SC1091
. "$EMPORIUM_CLUSTER_DIR/env"
set +a

failed=()
drill() {
  local name=$1
  shift
  echo "== drill $name"
  if ! "$EMPORIUM_BIN" drill --name "$name" --target "$CLUSTER_GATEWAY_URL" --ca "$CLUSTER_CA_CERT" \
    --queries "$root/bench/queries.jsonl.gz" --rate "$rate" --json "$out/$name.json" --check "$@" \
    2>&1 | tee "$out/$name.txt"; then
    failed+=("$name")
  fi
  # Whatever the drill left behind is put back before the next one.
  "$cluster" up > /dev/null
}

run() {
  case $1 in
    replica-killed)
      drill "$1" --duration 45 --fault "$cluster kill replica" --fault-at 10 \
        --recover "$cluster start replica" --recover-at 25 ;;
    primary-stopped)
      drill "$1" --duration $((outage + 40)) --fault "$cluster stop primary" --fault-at 10 \
        --recover "$cluster start primary" --recover-at $((outage + 10)) ;;
    api-killed)
      drill "$1" --duration 45 --fault "$cluster kill api-1" --fault-at 10 \
        --recover "$cluster start api-1" --recover-at 25 ;;
    rolling-restart)
      drill "$1" --duration 45 --fault "$cluster restart-rolling" --fault-at 5 ;;
    redis-node-killed)
      drill "$1" --duration 50 --fault "$cluster kill redis-2" --fault-at 10 \
        --recover "$cluster start redis-2" --recover-at 25 ;;
    redis-stopped)
      drill "$1" --duration 50 --fault "$cluster redis-stop-all" --fault-at 10 \
        --recover "$cluster redis-start-all" --recover-at 25 ;;
    primary-promoted)
      drill "$1" --duration 45 --fault "$cluster kill primary" --fault-at 10 \
        --recover "$failover promote" --recover-at 15
      "$failover" rebuild-old-primary ;;
    *) echo "unknown drill: $1" >&2; exit 2 ;;
  esac
}

drills=("$@")
[ ${#drills[@]} -gt 0 ] || drills=(replica-killed primary-stopped api-killed rolling-restart
  redis-node-killed redis-stopped primary-promoted)
for d in "${drills[@]}"; do run "$d"; done

if [ ${#failed[@]} -gt 0 ]; then
  echo "drills that missed the bar: ${failed[*]} (reports in $out)" >&2
  exit 1
fi
echo "every drill met the bar (reports in $out)"
