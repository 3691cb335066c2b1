#!/usr/bin/env bash
# Search benchmark across backends and catalog sizes, as reported in
# docs/benchmarks.md. Builds the release binary, then for each backend
# (sqlite, postgres) and size (23k demo, 100k, 1M):
#   seeds a fresh store, starts `emporium serve` (API rate limit off: the
#   load comes from one address), and runs `emporium bench`
#   (open loop 2,000/s over 1,000 connections; closed loop at 1, 64, 256;
#   the same queries straight against the store), once with the cache on
#   and once with it off (the server's own cost over the store's).
# Usage: scripts/bench.sh [sqlite|postgres|all] [23k|100k|1m|all] [seconds per run]
# Needs PostgreSQL on 127.0.0.1:5432 for the postgres runs. Loads 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-all}; sizes=${2:-all}; secs=${3:-10}
[ "$backends" = all ] && backends="sqlite postgres"
[ "$sizes" = all ] && sizes="23k 100k 1m"
cargo build --release -p emporium
bin=target/release/emporium
out=${BENCH_OUT:-target/bench}; mkdir -p "$out"
ulimit -n 65536 2>/dev/null || true
port=18080

synthetic() { case $1 in 23k) echo 0;; 100k) echo 76787;; 1m) echo 976787;; esac; }

for backend in $backends; do
  for size in $sizes; do
    dir=$(mktemp -d)
    unset DATABASE_URL
    if [ "$backend" = postgres ]; then
      db="emporium_bench_$size"
      psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
      psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
      export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    fi
    echo "== $backend $size: seeding"
    /usr/bin/time -f "seed: %e s, %M KB max RSS" "$bin" seed --synthetic "$(synthetic "$size")" --data-dir "$dir"
    for cache in memory none; do
      log="$out/$backend-$size-cache-$cache.txt"
      EMPORIUM_CACHE__BACKEND=$cache EMPORIUM_STORE__SEED_DEMO_WHEN_EMPTY=false RUST_LOG=warn \
        EMPORIUM_LIMITS__API_ENABLED=false \
        "$bin" serve --addr 127.0.0.1:$port --data-dir "$dir" > "$out/server.log" 2>&1 &
      pid=$!
      for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
      direct=""; [ "$cache" = none ] && direct="--direct"
      echo "== $backend $size cache=$cache"
      "$bin" bench --addr 127.0.0.1:$port --duration "$secs" --data-dir "$dir" $direct | tee "$log"
      kill -TERM $pid; wait $pid || true
    done
    [ "$backend" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
    rm -rf "$dir"
  done
done
