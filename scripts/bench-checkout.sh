#!/usr/bin/env bash
# Checkout against search, as reported in docs/benchmarks.md: for each
# backend, starts `emporium serve` on the demo catalog (general API rate
# limit off: the load comes from one address) and runs `emporium bench`
# closed loop at the given concurrency: searches, then checkouts (each
# client creates a guest cart, adds one of 20 popular products — stocked by
# the bench — and checks out with a fresh Idempotency-Key).
# Usage: scripts/bench-checkout.sh [sqlite|postgres|all] [concurrency] [seconds]
# Needs PostgreSQL on 127.0.0.1:5432 for the postgres run. Loads 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-all}; concurrency=${2:-64}; secs=${3:-15}
[ "$backends" = all ] && backends="sqlite postgres"
cargo build --release -p emporium
bin=target/release/emporium
out=${BENCH_OUT:-target/bench}; mkdir -p "$out"
port=18084
for backend in $backends; do
  dir=$(mktemp -d)
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    db=emporium_bench_checkout
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    "$bin" seed --data-dir "$dir" >/dev/null
  fi
  EMPORIUM_LIMITS__API_ENABLED=false EMPORIUM_LIMITS__CARTS_PER_IP=1000000000 \
    EMPORIUM_LIMITS__CHECKOUTS_PER_IP=1000000000 RUST_LOG=warn \
    "$bin" serve --addr 127.0.0.1:$port --data-dir "$dir" > "$out/server.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.3; done
  echo "== $backend: search and checkout, closed loop c=$concurrency"
  "$bin" bench --addr 127.0.0.1:$port --mode closed --concurrency "$concurrency" --warmup 0 \
    --duration "$secs" --checkout --data-dir "$dir" | tee "$out/checkout-$backend.txt"
  kill -TERM $pid; wait $pid || true
  [ "$backend" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
  rm -rf "$dir"
done
