#!/usr/bin/env bash
# Runs the storefront's end-to-end tests (e2e/) in headless Chromium against
# the built binary, target/debug/emporium (build it first: cargo build -p
# emporium). Needs Node.js 20+ and Debian's chromium (/usr/bin/chromium, or
# CHROMIUM_PATH); installs e2e/node_modules with `npm ci` when missing
# (playwright-core only: no browser is downloaded). Arguments go to
# `node --test` (e.g. a test file). Screenshots land in e2e/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../e2e"
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "no Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}: apt-get install -y chromium" >&2
  exit 1
fi
if [ ! -x "${EMPORIUM_BIN:-../target/debug/emporium}" ]; then
  echo "no ${EMPORIUM_BIN:-target/debug/emporium}: run cargo build -p emporium first" >&2
  exit 1
fi
if [ ! -d node_modules ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
# One file at a time: each starts its own server, and the machine may be small.
exec node --test --test-concurrency=1 "$@"
