#!/usr/bin/env bash
# Payments, as reported in docs/benchmarks.md: for each backend, starts
# paysim (`emporium paysim`) and `emporium serve` paying through it, then
# `emporium bench --payments N`: N payments open loop at RATE/s against the
# healthy provider (p50/p95/p99 from when each was due), then N payments
# queued while paysim is down and the time from its recovery to an empty
# payment queue.
# Usage: scripts/bench-payments.sh [sqlite|postgres|all] [N] [RATE]
# Needs PostgreSQL on 127.0.0.1:5432 for the postgres run. Loads 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-all}; n=${2:-1000}; rate=${3:-20}
[ "$backends" = all ] && backends="sqlite postgres"
cargo build --release -p emporium
bin=target/release/emporium
out=${BENCH_OUT:-target/bench}; mkdir -p "$out"
port=18085; simport=18095
for backend in $backends; do
  dir=$(mktemp -d)
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    db=emporium_bench_payments
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    "$bin" seed --data-dir "$dir" >/dev/null
  fi
  RUST_LOG=warn "$bin" paysim --addr 127.0.0.1:$simport --ledger "$dir/paysim.db" \
    --webhook-url "http://127.0.0.1:$port/api/webhooks/payments" > "$out/paysim.log" 2>&1 &
  simpid=$!
  EMPORIUM_LIMITS__API_ENABLED=false EMPORIUM_LIMITS__CARTS_PER_IP=1000000000 \
    EMPORIUM_LIMITS__CHECKOUTS_PER_IP=1000000000 RUST_LOG=warn \
    EMPORIUM_PAYMENTS__MODE=provider EMPORIUM_PAYMENTS__PROVIDER_URL=http://127.0.0.1:$simport \
    EMPORIUM_PAYMENTS__TOKENIZATION_URL=http://127.0.0.1:$simport/v1/payment_methods \
    "$bin" serve --addr 127.0.0.1:$port --data-dir "$dir" > "$out/server.log" 2>&1 &
  pid=$!
  trap 'kill $pid $simpid 2>/dev/null || true' EXIT
  for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.3; done
  echo "== $backend: $n payments at $rate/s, then $n queued and drained"
  "$bin" bench --addr 127.0.0.1:$port --mode none --warmup 0 --payments "$n" \
    --payment-rate "$rate" --paysim "http://127.0.0.1:$simport" --data-dir "$dir" \
    | tee "$out/payments-$backend.txt"
  kill -TERM $pid $simpid; wait $pid $simpid || true
  [ "$backend" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
  rm -rf "$dir"
done
