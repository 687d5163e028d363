#!/usr/bin/env bash
# Swagger UI in a real browser: installs Debian's chromium and playwright-core (npm, no
# browser download) if missing, starts the release binary on a temporary SQLite file,
# signs up, and runs swagger_ui.mjs against it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${CRM_API_BIN:-$root/target/release/crm-api}"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
[ -x "$bin" ] || (cd "$root" && cargo build --release --locked --bin crm-api)

work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="sqlite://$work/crm.sqlite3" JWT_SECRET="swagger-ui-check-secret-swagger-ui-check" APP_ENV=production \
  BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn "$bin" serve >"$work/service.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
email="swagger@ui.test"
token=$(curl -fs -X POST "http://127.0.0.1:$port/v1/auth/signup" -H 'Content-Type: application/json' \
  -d "{\"account_name\":\"Swagger UI\",\"email\":\"$email\",\"password\":\"swagger-ui-password\",\"first_name\":\"Swa\",\"last_name\":\"Gger\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
node "$here/swagger_ui.mjs" "http://127.0.0.1:$port" "$token" "$email"
