#!/usr/bin/env python3
"""What the outbox costs a write (SPEC §10): `POST /v1/contacts` and `PATCH
/v1/contacts/{id}` throughput with 0, 1 and 10 webhooks subscribed (10 subscriptions of 10
different users, so every write makes 10 scoped payloads), as ratios to the 0-webhook
figure of the same run, with `/healthz` of the same binary as the floor. The
configurations take turns round by round (the order rotates), so drift of a shared
machine falls on all of them; the figure is the median of the rounds.

The delivery worker is off (`WEBHOOK_WORKER=false`): this measures the write path, the
transaction that queues the events; sending them is the worker's work, measured by
checks/webhook_drill.py (delivery delay).

    python3 bench/webhooks.py                      # PostgreSQL and SQLite, 3 rounds of 5 s
    python3 bench/webhooks.py --rounds 1 --duration 2 --backends pg    # smoke
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

# Another build to compare (A/B): CRM_API_BIN=/tmp/crm-before python3 bench/webhooks.py
bench.BIN = os.environ.get("CRM_API_BIN", bench.BIN)

PG_DB = "crm_bench_hooks"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}?sslmode=disable"
SQLITE = "/tmp/crm-bench-hooks.sqlite3"
CONFIGS = (0, 1, 10)


def call(method, path, token=None, body=None):
    return bench.call(method, path, token, body)


def wrk(path, token, duration, method, body_lua):
    """Closed loop, req/s; `body_lua` builds each request's body (Lua expression)."""
    script = "/tmp/crm-bench-hooks.lua"
    with open(script, "w") as f:
        f.write(f"""
counter = 0
ids = {{}}
for line in io.lines("/tmp/crm-bench-hooks.ids") do ids[#ids + 1] = line end
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local id = ids[math.random(#ids)]
  local path = string.gsub("{path}", "{{id}}", id)
  return wrk.format(nil, path, nil, {body_lua})
end
""")
    out = bench.sh(["wrk", "-t2", f"-c{bench.CONNECTIONS}", f"-d{duration}s", "-s", script, bench.BASE]).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{method} {path}: {errors.group(1)} non-2xx responses")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def healthz(duration):
    out = bench.sh(["wrk", "-t2", f"-c{bench.CONNECTIONS}", f"-d{duration}s", bench.BASE + "/healthz"]).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def start(url):
    env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=bench.SECRET, APP_ENV="production", RUST_LOG="warn",
               BIND_ADDR=f"127.0.0.1:{bench.PORT}", LOGIN_ATTEMPTS_PER_MINUTE="100000", WEBHOOK_WORKER="false",
               WEBHOOK_ALLOW_PRIVATE="true", DB_POOL_SIZE="16")
    proc = subprocess.Popen([bench.BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(bench.BASE + "/readyz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the service did not start")


def setup():
    """An account with 10 users (the owner and 9 `user`s, default access `edit`: each sees
    every contact), a webhook per user (inactive for now), 200 contacts to change."""
    owner = call("POST", "/v1/auth/signup", body={"account_name": "Hooks", "email": "owner@hooks.bench",
                                                  "password": "bench-password", "first_name": "O",
                                                  "last_name": "Wner"})
    token = owner["access_token"]
    tokens = [token]
    for i in range(9):
        email = f"user{i}@hooks.bench"
        call("POST", "/v1/users", token, {"email": email, "password": "bench-password", "first_name": "U",
                                          "last_name": str(i), "role": "user"})
        tokens.append(bench.login(email, "bench-password"))
    hooks = []
    for t in tokens:
        h = call("POST", "/v1/webhooks", t, {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
        call("PATCH", f"/v1/webhooks/{h['id']}", t, {"active": False})
        hooks.append((t, h["id"]))
    ids = [call("POST", "/v1/contacts", token, {"first_name": "B", "last_name": str(i)})["id"] for i in range(200)]
    with open("/tmp/crm-bench-hooks.ids", "w") as f:
        f.write("\n".join(ids) + "\n")
    return token, hooks


def activate(hooks, n):
    for i, (t, h) in enumerate(hooks):
        call("PATCH", f"/v1/webhooks/{h}", t, {"active": i < n})


def run_backend(name, url, rounds, duration):
    proc = start(url)
    try:
        token, hooks = setup()
        figures = {(op, n): [] for op in ("POST", "PATCH") for n in CONFIGS}
        floor = []
        for r in range(rounds):
            order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
            floor.append(healthz(duration))
            for n in order:
                activate(hooks, n)
                figures[("POST", n)].append(wrk("/v1/contacts", token, duration, "POST",
                                                '\'{"first_name":"W","last_name":"\' .. counter .. \'"}\''))
                figures[("PATCH", n)].append(wrk("/v1/contacts/{id}", token, duration, "PATCH",
                                                 '\'{"job_title":"t\' .. counter .. \'"}\''))
        queued = call("GET", f"/v1/webhooks/{hooks[0][1]}/deliveries?limit=1&with_total=true", hooks[0][0])
        return {k: statistics.median(v) for k, v in figures.items()}, statistics.median(floor), queued.get("total")
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--backends", default="pg,sqlite")
    args = ap.parse_args()
    if "CRM_API_BIN" not in os.environ:
        bench.ensure_tools()
    print(f"writes with 0 / 1 / 10 webhooks; wrk -t2 -c{bench.CONNECTIONS}, median of {args.rounds} rounds "
          f"of {args.duration} s; delivery worker off")
    for backend in args.backends.split(","):
        if backend == "pg":
            bench.psql(f"DROP DATABASE IF EXISTS {PG_DB}")
            bench.psql(f"CREATE DATABASE {PG_DB}")
            url = PG_URL
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(SQLITE + suffix):
                    os.remove(SQLITE + suffix)
            url = f"sqlite://{SQLITE}"
        figures, floor, queued = run_backend(backend, url, args.rounds, args.duration)
        print(f"\n{backend}: /healthz {floor:,.0f} req/s; deliveries queued for the first subscription: {queued}")
        print(f"  {'':6} {'0 webhooks':>14} {'1 webhook':>20} {'10 webhooks':>20}")
        for op in ("POST", "PATCH"):
            base = figures[(op, 0)]
            cells = [f"{base:,.0f} req/s ({base / floor:.1%} of /healthz)"]
            for n in (1, 10):
                v = figures[(op, n)]
                cells.append(f"{v:,.0f} ({v / base:.2f}×)")
            print(f"  {op:6} " + "  ".join(f"{c:>20}" for c in cells))
        if backend == "pg":
            bench.psql(f"DROP DATABASE IF EXISTS {PG_DB}")


if __name__ == "__main__":
    main()
