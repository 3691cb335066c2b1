#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the store contract suite on
# SQLite and PostgreSQL, the cache contract on memory and Redis, and the
# HTTP tests against the real server. Needs PostgreSQL on 127.0.0.1:5432
# and Redis on 127.0.0.1:6379 (see README.md; .ci/run starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
# The contention tests open a thousand connections at once.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec cargo test --workspace "$@"
