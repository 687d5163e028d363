#!/usr/bin/env python3
"""Quick A/B figures on one PostgreSQL database: closed-loop req/s (wrk) for the hot paths
and the server's peak RSS, optionally pgbench on the captured list SQL. Seeds `crm_quick`
once (100k contacts) and reuses it, so a before/after comparison takes a minute.

    python3 bench/quick.py                 # seed if needed, run every case
    RESEED=1 SIZE=100000 python3 bench/quick.py
    ONLY="(a) first,get one" DUR=4 python3 bench/quick.py
    PGB=1 ONLY=none python3 bench/quick.py # pgbench: captured SQL with / without predicate

Needs a release build, wrk and pgbench (bench.py installs them on first use).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

bench.PG_DB = "crm_quick"
bench.PG_URL = "postgres://postgres@127.0.0.1:5432/crm_quick?sslmode=disable"
SIZE = int(os.environ.get("SIZE", "100000"))
DUR = int(os.environ.get("DUR", "4"))
STATE = "/tmp/crm-quick-logins.json"


def main():
    if not os.path.exists(STATE) or os.environ.get("RESEED"):
        bench.psql("DROP DATABASE IF EXISTS crm_quick")
        bench.psql("CREATE DATABASE crm_quick")
        logins, seconds = bench.seed(bench.PG_URL, SIZE)
        with open(STATE, "w") as f:
            json.dump(logins, f)
        print(f"seeded {SIZE:,} contacts in {seconds:.1f}s")
    with open(STATE) as f:
        logins = json.load(f)
    only = [o for o in os.environ.get("ONLY", "").split(",") if o]
    server = bench.Server(bench.PG_URL)
    try:
        user = bench.login(*logins["user"])
        admin = bench.login(*logins["admin"])
        print(f"rss at start {server.rss_mb():.0f} MB")
        deep = bench.deep_cursor(user, 200 if SIZE > 20000 else 3)
        one = bench.call("GET", "/v1/contacts?limit=1", user)["data"][0]["id"]
        own = bench.call("POST", "/v1/contacts", user, {"first_name": "Bench", "last_name": "Mark"})["id"]
        cases = [
            ("healthz", "GET", "/healthz", None, None),
            ("me", "GET", "/v1/me", user, None),
            ("(a) first", "GET", "/v1/contacts?limit=50", user, None),
            ("(a) deep", "GET", f"/v1/contacts?limit=50&cursor={deep}", user, None),
            ("(c) first", "GET", "/v1/contacts?limit=50", admin, None),
            ("get one", "GET", f"/v1/contacts/{one}", user, None),
            ("(a) q", "GET", "/v1/contacts?limit=50&q=nakamura", user, None),
            ("(a) total", "GET", "/v1/contacts?limit=50&with_total=true", user, None),
            ("patch", "PATCH", f"/v1/contacts/{own}", user, {"job_title": "bench"}),
            ("post", "POST", "/v1/contacts", user, {"first_name": "Load", "last_name": "Test"}),
        ]
        for name, method, path, token, body in cases:
            if only and name not in only:
                continue
            rate = bench.wrk(path, token, DUR, method, body)
            print(f"{name:12s} {rate:9,.0f} req/s   rss {server.rss_mb():.0f} MB", flush=True)
    finally:
        server.stop()
    if os.environ.get("PGB"):
        caller, sql = bench.capture_sql(logins, "/v1/contacts?limit=50")
        print(f"pgbench same SQL          {bench.pgbench([sql], DUR):9,.0f} tps")
        print(f"pgbench without predicate {bench.pgbench([bench.without_predicate(sql)], DUR):9,.0f} tps")
        print(f"pgbench caller + list     {bench.pgbench([caller, sql], DUR):9,.0f} tps")


if __name__ == "__main__":
    main()
