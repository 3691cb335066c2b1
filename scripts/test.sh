#!/usr/bin/env bash
# Runs every test: the workspace's (unit tests, the store contract suite on
# SQLite and PostgreSQL, the cache contract on memory and Redis, the HTTP
# tests against the real server, paysim's), then schemathesis over the
# OpenAPI document (scripts/fuzz.sh), then `nginx -t` over the gateway's
# configuration (deploy/nginx), then the storefront's
# end-to-end tests in headless Chromium (e2e/, scripts/e2e.sh), then the
# failure drills on the local cluster (scripts/drill.sh, which starts and
# removes it). Needs
# PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, Node.js 20+
# and Debian's chromium (installed here when missing and apt-get can run;
# see README.md; .ci/run prepares all of it), and python3 for the API
# fuzzing (scripts/fuzz.sh). Arguments are passed to `cargo test` and skip
# the fuzzing and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# The contention tests open a thousand connections at once.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo test --workspace "$@"
[ $# -gt 0 ] && exit 0

# Every operation of the OpenAPI document, fuzzed (a bounded run).
bash scripts/fuzz.sh

# The gateway's configuration (deploy/nginx), checked by nginx itself.
if ! command -v nginx > /dev/null && [ ! -x /usr/sbin/nginx ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo -n"
  echo "== installing nginx to check the gateway's configuration"
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light \
    || { echo "cannot install nginx: apt-get install nginx-light, then run again" >&2; exit 1; }
fi
bash deploy/nginx/check.sh

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo -n"
  echo "== installing Debian's chromium for the browser tests"
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
    || { echo "cannot install chromium: apt-get install chromium, then run again" >&2; exit 1; }
fi
cargo build -p emporium
bash scripts/e2e.sh

# Failure drills on the local cluster (nginx, auth and API instances, a
# worker, PostgreSQL primary + streaming replica, a Redis Cluster): each
# fault under steady traffic through the gateway (scripts/drill.sh).
bash scripts/drill.sh
