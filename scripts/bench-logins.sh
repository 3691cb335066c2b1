#!/usr/bin/env bash
# What sign-ins cost searches, as reported in docs/benchmarks.md: for each
# backend, starts `emporium serve` on the demo catalog (general API rate
# limit and registration limit off: the load comes from one address) and runs `emporium bench`
# open loop (2,000 searches/s over 1,000 connections) idle and again while
# N clients sign in back to back (each sign-in a full Argon2id hash).
# Usage: scripts/bench-logins.sh [sqlite|postgres|all] [login clients] [seconds] [hash concurrency]
# Needs PostgreSQL on 127.0.0.1:5432 for the postgres run. Loads 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-all}; clients=${2:-4}; secs=${3:-15}; hashes=${4:-0}
[ "$backends" = all ] && backends="sqlite postgres"
cargo build --release -p emporium
bin=target/release/emporium
out=${BENCH_OUT:-target/bench}; mkdir -p "$out"
port=18082
for backend in $backends; do
  dir=$(mktemp -d)
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    db=emporium_bench_logins
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    "$bin" seed --data-dir "$dir" >/dev/null
  fi
  EMPORIUM_LIMITS__API_ENABLED=false EMPORIUM_LIMITS__REGISTRATIONS_PER_IP=100000 \
  EMPORIUM_AUTH__HASH_CONCURRENCY=$hashes RUST_LOG=warn \
    "$bin" serve --addr 127.0.0.1:$port --data-dir "$dir" > "$out/server.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 200); do curl -sf "127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.3; done
  echo "== $backend: searches idle and with $clients clients signing in (hash concurrency ${hashes/#0/auto})"
  "$bin" bench --addr 127.0.0.1:$port --mode open --warmup 5 --duration "$secs" --logins "$clients" \
    --data-dir "$dir" | tee "$out/logins-$backend-h$hashes.txt"
  kill -TERM $pid; wait $pid || true
  [ "$backend" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres
  rm -rf "$dir"
done
