#!/usr/bin/env bash
# Fuzzes every operation of the served OpenAPI document with schemathesis:
# generated valid and invalid inputs, sent with no token, a customer's and
# an administrator's, each answer checked for no 5xx and against its
# documented status codes, content type, headers and body schema.
#
#   bash scripts/fuzz.sh            # 50 examples per operation and caller
#   FUZZ_EXAMPLES=500 bash scripts/fuzz.sh
#
# Starts its own shop (the debug build, embedded SQLite in a temporary
# directory, the fixture catalog, port 0) and stops it by its pid. Needs
# python3 with venv; schemathesis is installed into target/fuzz-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${FUZZ_EXAMPLES:-50}
seed=${FUZZ_SEED:-1}
venv=target/fuzz-venv

if [ ! -x "$venv/bin/st" ]; then
  echo "== installing schemathesis into $venv"
  python3 -m venv "$venv"
  # One known version: a newer one may generate differently or fail differently.
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi

cargo build -q -p emporium
bin=${CARGO_TARGET_DIR:-target}/debug/emporium

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ -n "${FUZZ_KEEP:-}" ] && cp "$work/server.log" "$FUZZ_KEEP"; rm -rf "$work"
}
trap cleanup EXIT

# Rate limits high enough for the fuzzer (429s are documented, but they
# would hide every other answer); everything else as shipped.
export EMPORIUM_LIMITS__API_REQUESTS_PER_IP=100000000
export EMPORIUM_LIMITS__API_REQUESTS_PER_USER=100000000
export EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP=100000000
export EMPORIUM_LIMITS__REGISTRATIONS_PER_IP=100000
export EMPORIUM_LIMITS__LOGIN_FAILURES_PER_IP=100000
export EMPORIUM_STORE__SEED_DEMO_WHEN_EMPTY=false
export EMPORIUM_ADMIN_PASSWORD="an admin's long fuzzing secret"

"$bin" seed --data-dir "$work" --file crates/emporium/tests/fixtures/small-catalog.jsonl >/dev/null
"$bin" admin create --email admin@fuzz.example --name Admin --data-dir "$work" >/dev/null
"$bin" serve --data-dir "$work" --addr 127.0.0.1:0 >"$work/server.log" 2>&1 &
pid=$!
base=
for _ in $(seq 1 200); do
  base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -1 | sed 's/listening on //' || true)
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "the shop did not start"; cat "$work/server.log"; exit 1; }
echo "== fuzzing $base (seed $seed, $examples examples per operation and caller)"

token() {
  curl -sf "$base/api/auth/$1" -H 'content-type: application/json' -d "$2" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
customer=$(token register '{"email":"customer@fuzz.example","password":"a customer long secret","name":"Customer"}')
admin=$(token login "{\"email\":\"admin@fuzz.example\",\"password\":\"$EMPORIUM_ADMIN_PASSWORD\"}")

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
fuzz() {
  local who=$1; shift
  echo "== as $who"
  "$venv/bin/st" --config-file scripts/schemathesis.toml run "$base/api/openapi.json" \
    --checks "$checks" --max-examples "$examples" --seed "$seed" \
    --phases examples,coverage,fuzzing --workers 1 --no-color \
    --generation-database none --request-timeout 20 --suppress-health-check all \
    --warnings off "$@"
}
status=0
fuzz anonymous || status=1
# Signed-in runs leave out sign-out, which would end the session they use.
fuzz customer -H "Authorization: Bearer $customer" --exclude-path /api/auth/logout || status=1
fuzz admin -H "Authorization: Bearer $admin" --exclude-path /api/auth/logout || status=1

# Nothing the fuzzer sends may make the shop log an error or panic.
if grep -E " ERROR |panicked" "$work/server.log"; then
  echo "the server logged an error"; status=1
fi
exit $status
