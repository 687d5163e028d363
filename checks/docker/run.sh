#!/usr/bin/env bash
# The Docker check (a CI stage): builds the project's Dockerfile and runs its
# docker-compose.yml, unchanged, with a real container engine — podman (runc) behind its
# Docker-compatible API socket, driven by Debian's docker-compose 1.29 — on local stand-ins
# for the base images (standins.sh; no registry is reachable here). Then proves:
#   1. compose refuses to start without JWT_SECRET
#   2. `up`: signup, login, a contact, /readyz; the image is non-root with a HEALTHCHECK
#   3. down + up (the volume kept): the data is still there; the README's `run --rm api
#      migrate`, `exec api crm-api healthcheck` and `pg_dump` backup work
#   4. --profile replicas: requests alternate between replicas with identical answers, the
#      login throttle holds across them, one replica killed under load loses only its
#      in-flight requests; X-Forwarded-For is believed from the balancer only
#   5. both replicas started at once on an empty database apply each migration once
# Each sub-step prints its time; any failed assertion fails the script. Containers, networks
# and volumes are removed at the end; the images stay as the next run's cache.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/checks/docker"
work=/var/tmp/crm-docker-check
mkdir -p "$work"
project=crmcheck
export PROOF_STATE="$work/state.json"

step=""; step_start=$SECONDS; total_start=$SECONDS
sub() {
  [ -n "$step" ] && printf '   [%s: %ss]\n' "$step" $(( SECONDS - step_start ))
  step="$*"; step_start=$SECONDS
  [ -n "$step" ] && printf -- '-- %s\n' "$step"
  return 0
}
fail() { echo "FAIL: $*" >&2; exit 1; }
timed() {  # label command...: runs it quietly, prints its time
  local s=$SECONDS rc=0
  "${@:2}" > "$work/last.log" 2>&1 || rc=$?
  printf '   %s: %ss\n' "$1" $(( SECONDS - s ))
  [ $rc = 0 ] || { cat "$work/last.log"; fail "$1 failed"; }
}

# --- the engine ----------------------------------------------------------------------
sub "installing podman, runc, docker-compose, debootstrap (Debian) when missing"
need=()
for pkg in podman runc docker-compose debootstrap netavark aardvark-dns; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
podman --version; docker-compose --version

# nofile/nproc at or below the host's hard limits (runc here refuses to raise nproc even to
# the hard limit: 96367 refused, 8192 taken); runc, not crun; no systemd, so cgroupfs and
# file events.
export NOFILE="$(ulimit -Hn)"
export NPROC="$(( $(ulimit -Hu) < 8192 ? $(ulimit -Hu) : 8192 ))"
cat > "$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$work/containers.conf"

pids=()
vols_before=$(podman volume ls -q | sort)
# docker-compose 1.29 through a shim for one podman difference (compose_shim.py says which).
compose() { /usr/bin/python3 "$here/compose_shim.py" -p "$project" --env-file "$work/compose.env" "$@"; }
cleanup() {
  local rc=$?
  set +e
  if [ -n "${DOCKER_HOST:-}" ] && [ -f "$work/compose.env" ]; then
    if [ $rc -ne 0 ]; then
      echo "--- container logs (last lines) ---"
      compose --profile replicas logs --no-color --tail 15 2>/dev/null | cut -c1-300 | tail -n 80
    fi
    compose --profile replicas down -v --remove-orphans >/dev/null 2>&1
  fi
  # Whatever compose left of this project (by its label), never other containers.
  podman ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r podman rm -f >/dev/null 2>&1
  podman volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r podman volume rm -f >/dev/null 2>&1
  # The API containers' anonymous /app/data volumes (unlabelled; `down` without -v in step 3
  # keeps them): those this run created.
  comm -13 <(echo "$vols_before") <(podman volume ls -q | sort) | xargs -r podman volume rm >/dev/null 2>&1
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  rm -f "$work/podman.sock"
  exit $rc
}
trap cleanup EXIT

# The Docker-compatible API that docker-compose talks to.
rm -f "$work/podman.sock"
podman system service --time=0 "unix://$work/podman.sock" > "$work/podman-service.log" 2>&1 &
pids+=($!)
export DOCKER_HOST="unix://$work/podman.sock"
for _ in $(seq 1 50); do [ -S "$work/podman.sock" ] && break; sleep 0.2; done
[ -S "$work/podman.sock" ] || fail "podman system service did not start (see $work/podman-service.log)"

# Podman runs health checks from systemd timers; there is no systemd here, so a loop does.
( while true; do
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 2
  done ) &
pids+=($!)

# --- stand-in base images ------------------------------------------------------------
sub "stand-in base images (built once per machine, kept while their recipe is unchanged)"
# The names the project's files use must be the stand-ins' names.
grep -qx 'FROM rust:1.95-bookworm AS build' "$repo/Dockerfile" || fail "Dockerfile no longer builds FROM rust:1.95-bookworm"
grep -qx 'FROM debian:bookworm-slim' "$repo/Dockerfile" || fail "Dockerfile no longer runs FROM debian:bookworm-slim"
grep -q 'image: postgres:15-bookworm$' "$repo/docker-compose.yml" || fail "compose no longer uses postgres:15-bookworm"
grep -q 'image: haproxy:2.6-bookworm$' "$repo/docker-compose.yml" || fail "compose no longer uses haproxy:2.6-bookworm"
bash "$here/standins.sh"

# --- secrets, ports -------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port); LB_PORT=$(free_port)
base="http://127.0.0.1:$API_PORT"; lb="http://127.0.0.1:$LB_PORT"
# Secrets in an env file, as the README tells operators.
{
  echo "POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "API_PORT=$API_PORT"
  echo "LB_PORT=$LB_PORT"
  echo "CRM_API_TAG=ci"
} > "$work/compose.env"
chmod 600 "$work/compose.env"

sub "1. without JWT_SECRET compose refuses to start"
cd "$repo"
if compose up -d > "$work/refused.log" 2>&1; then
  cat "$work/refused.log"; fail "compose started without JWT_SECRET"
fi
grep -q 'JWT_SECRET' "$work/refused.log" || { cat "$work/refused.log"; fail "the refusal does not name JWT_SECRET"; }
[ -z "$(podman ps -aq --filter "label=com.docker.compose.project=$project")" ] || fail "containers were created"
echo "   refused: $(grep -m1 JWT_SECRET "$work/refused.log")"
echo "JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')" >> "$work/compose.env"

sub "2a. docker-compose build (the project's Dockerfile)"
build_start=$SECONDS
compose build api > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "docker-compose build failed"; }
build_secs=$(( SECONDS - build_start ))
image="crm-api:ci"
podman image inspect "$image" > "$work/image.json"
python3 - "$work/image.json" "$build_secs" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img.get("Config", {})
hc = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
user = cfg.get("User") or img.get("User")
labels = cfg.get("Labels") or img.get("Labels") or {}
print(f"   image {img['RepoTags'][0]}: {img['Size'] / 1e6:.0f} MB, built in {sys.argv[2]} s, user {user!r}, "
      f"healthcheck {hc.get('Test')}, title label {labels.get('org.opencontainers.image.title')!r}")
assert user and user not in ("root", "0"), "the image runs as root"
assert hc.get("Test") == ["CMD", "crm-api", "healthcheck"], "the image lost its HEALTHCHECK"
assert labels.get("org.opencontainers.image.title") == "crm-api", "OCI labels missing"
EOF

sub "2b. docker compose up: signup, login, a contact, /readyz"
up_start=$SECONDS
compose up -d > "$work/up.log" 2>&1 || { cat "$work/up.log"; fail "docker-compose up failed"; }
wait_healthy() {  # service... : until each of them is healthy (90 s at most)
  local s c
  for s in "$@"; do
    for _ in $(seq 1 180); do
      c=$(compose ps -q "$s" 2>/dev/null)
      [ -n "$c" ] && [ "$(podman inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && continue 2
      sleep 0.5
    done
    fail "$s did not become healthy"
  done
}
wait_healthy db api
echo "   up to healthy (database init, migrations, health checks): $(( SECONDS - up_start )) s"
python3 "$here/proof.py" basic "$base"

sub "3. down and up again: the volume keeps the data"
compose down > /dev/null 2>&1
compose up -d > "$work/up2.log" 2>&1 || { cat "$work/up2.log"; fail "docker-compose up (again) failed"; }
wait_healthy db api
python3 "$here/proof.py" persists "$base"

sub "3b. the README's operator commands: run --rm api migrate, exec healthcheck, pg_dump backup"
compose run --rm api migrate > "$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; fail "compose run --rm api migrate failed"; }
grep -q '"migrations applied","applied":0' "$work/migrate.log" || { cat "$work/migrate.log"; fail "migrate did not report 0 pending migrations"; }
echo "   run --rm api migrate: $(grep -o '"migrations applied","applied":[0-9]*' "$work/migrate.log")"
compose exec -T api crm-api healthcheck || fail "exec api crm-api healthcheck failed"
echo "   exec api crm-api healthcheck: exit 0"
compose exec -T db pg_dump -U crm -Fc crm > "$work/backup.dump" || fail "pg_dump through compose exec failed"
tables=$(compose exec -T db pg_restore --list < "$work/backup.dump" | grep -c 'TABLE DATA' || true)
[ "$tables" -ge 10 ] || fail "the backup lists $tables tables' data"
echo "   exec db pg_dump: $(stat -c %s "$work/backup.dump") bytes, $tables tables' data"
rm -f "$work/backup.dump"

sub "4. --profile replicas: two replicas behind HAProxy"
compose --profile replicas up -d > "$work/up3.log" 2>&1 || { cat "$work/up3.log"; fail "up --profile replicas failed"; }
wait_healthy api api2
api2=$(compose ps -q api2)
restarts_before=$(podman inspect -f '{{.RestartCount}}' "$api2")
# A crash, not a stop: SIGKILL to the replica's process; its restart policy brings it back.
kill_cmd="kill -KILL \$(podman inspect -f '{{.State.Pid}}' $api2)"
start_cmd="for i in \$(seq 1 60); do [ \"\$(podman inspect -f '{{.RestartCount}}' $api2)\" -gt $restarts_before ] && exit 0; sleep 0.5; done; exit 1"
python3 "$here/proof.py" replicas "$lb" --kill "$kill_cmd" --start "$start_cmd" --seconds 20 --workers 4
# TRUSTED_PROXIES: behind the balancer the API sees the client's address (X-Forwarded-For
# from the balancer), not the balancer's; api2 has no published port, so all its /v1
# requests came through the balancer.
lb_ip=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(compose ps -q lb)")
compose logs --no-color api2 > "$work/api2.log" 2>/dev/null
client_ips=$(grep '"route":"/v1/' "$work/api2.log" | grep -o '"client_ip":"[^"]*"' | sort | uniq -c || true)
echo "   client addresses api2 logged for /v1 requests (the balancer is $lb_ip):"; echo "$client_ips" | sed 's/^/     /'
[ -n "$client_ips" ] || fail "api2 logged no /v1 request with a client address"
if grep -q "\"$lb_ip\"" <<< "$client_ips"; then fail "api2 took the balancer's address for the client's: X-Forwarded-For not believed"; fi
# And a forged X-Forwarded-For sent straight to api's published port is not believed.
curl -s -o /dev/null -H 'X-Forwarded-For: 203.0.113.77' "$base/v1/me"
# The access log is written by a background thread. (Logs go to a file before grep: with
# pipefail, `grep -q` closing the pipe early would fail the pipeline.)
for _ in $(seq 1 20); do
  sleep 0.5
  compose logs --no-color api > "$work/api.log" 2>/dev/null
  grep -q '"route":"/v1/me","status":401' "$work/api.log" && break
done
grep -q '"route":"/v1/me","status":401' "$work/api.log" || fail "api logged no unauthenticated /v1/me request"
if grep -q '203.0.113.77' "$work/api.log"; then fail "api believed a forged X-Forwarded-For from a direct client"; fi
echo "   a forged X-Forwarded-For sent to api's own port is not believed"

sub "5. both replicas started at once on an empty database: each migration applied once"
timed "down -v" compose --profile replicas down -v
# One `up`: compose starts db, waits for it to be healthy, then starts api and api2 together.
timed "up --profile replicas" compose --profile replicas up -d
t=$SECONDS; wait_healthy api api2; echo "   api and api2 healthy: $(( SECONDS - t ))s"
echo "   started at: api $(podman inspect -f '{{.State.StartedAt}}' "$(compose ps -q api)"), api2 $(podman inspect -f '{{.State.StartedAt}}' "$(compose ps -q api2)")"
expected=$(ls "$repo/migrations/postgres" | grep -E '^[0-9]{4}-' | sed -E 's/^([0-9-]+)_.*/\1/; s/-//g' | sort)
applied=$(compose exec -T db psql -U crm -d crm -Atc 'SELECT version FROM __diesel_schema_migrations ORDER BY version')
dupes=$(compose exec -T db psql -U crm -d crm -Atc 'SELECT version FROM __diesel_schema_migrations GROUP BY version HAVING count(*) > 1')
[ "$applied" = "$expected" ] || { diff <(echo "$expected") <(echo "$applied"); fail "applied migrations differ from migrations/postgres"; }
[ -z "$dupes" ] || fail "migrations applied twice: $dupes"
for s in api api2; do
  r=$(podman inspect -f '{{.RestartCount}}' "$(compose ps -q $s)")
  [ "$r" = 0 ] || fail "$s restarted $r time(s) while starting"
done
# Each replica logs how many migrations it applied: under the lock, one applies them all
# and the other none.
counts=""; total=0
for s in api api2; do
  compose logs --no-color "$s" > "$work/$s.log" 2>/dev/null
  n=$(grep -o '"migrations applied","applied":[0-9]*' "$work/$s.log" | sed -n '1s/.*://p')
  [ -n "$n" ] || fail "$s did not log how many migrations it applied"
  counts="$counts $s applied $n;"; total=$(( total + n ))
done
n_expected=$(echo "$expected" | wc -l)
[ "$total" = "$n_expected" ] || fail "the replicas applied $total migrations together, not $n_expected:$counts"
echo "   $n_expected migrations in __diesel_schema_migrations, each once;$counts both healthy, no restarts"

sub "cleanup (containers, network, volumes; the images stay as cache)"
timed "down -v" compose --profile replicas down -v
sub ""
echo "docker check: all steps passed in $(( SECONDS - total_start )) s"
