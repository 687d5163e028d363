#!/usr/bin/env bash
# Lints the committed OpenAPI document with Spectral (spectral:oas) and Redocly
# (recommended), no error and no warning allowed, then generates a TypeScript client from
# it with openapi-typescript and type-checks narrow.ts against that client. The tools are
# pinned in package-lock.json; `npm ci` runs only when node_modules is missing or was
# installed from another lock file. Usage: run.sh [document] (default openapi/openapi.json).
set -euo pipefail
start=$(date +%s)
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
doc="$(realpath "${1:-$root/openapi/openapi.json}")"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$here/node_modules/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$here/node_modules/.lock-sha256"
fi
bin="$here/node_modules/.bin"
# No usage reports or update checks from the Redocly CLI.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

echo "spectral (spectral:oas, fails on any warning)"
"$bin/spectral" lint --quiet --fail-severity=warn --ruleset "$here/.spectral.yaml" "$doc"
echo "spectral: no problems"

# Redocly exits non-zero on errors only: warnings are counted from its JSON report.
echo "redocly (recommended, fails on any warning)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
report="$(cd "$here" && "$bin/redocly" lint --config "$here/redocly.yaml" --format=json "$doc" 2>"$log" || true)"
counts="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(r.totals.errors, r.totals.warnings, r.totals.ignored);
' <<<"$report" 2>/dev/null)" || { cat "$log"; echo "redocly gave no report"; exit 1; }
read -r errors warnings ignored <<<"$counts"
if [ "$errors" != 0 ] || [ "$warnings" != 0 ]; then
  (cd "$here" && "$bin/redocly" lint --config "$here/redocly.yaml" --format=stylish "$doc") || true
  echo "redocly: $errors errors, $warnings warnings"
  exit 1
fi
echo "redocly: no problems ($ignored ignored by .redocly.lint-ignore.yaml)"

echo "openapi-typescript, then tsc --strict on narrow.ts"
mkdir -p "$here/generated"
# Run from generated/: openapi-typescript lints too, with a redocly.yaml in its working
# directory but without the ignore file; the lint above is the one that counts.
(cd "$here/generated" && "$bin/openapi-typescript" "$doc" --output crm-api.ts --silent)
# --skipLibCheck skips the .d.ts files only (TypeScript's lib, the @types of the linters);
# the generated client and narrow.ts are both checked.
"$bin/tsc" --noEmit --strict --skipLibCheck --target es2022 --module preserve "$here/narrow.ts"
echo "narrow.ts type-checks: a contact narrows on access"
echo "checks/openapi: passed in $(( $(date +%s) - start ))s"
