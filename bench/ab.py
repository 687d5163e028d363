#!/usr/bin/env python3
"""A/B of two (or more) release binaries on the `crm_quick` database that quick.py seeds:
binaries take turns round by round (the order flips every round), so drift of a shared
machine falls on both; prints the median req/s (wrk, closed loop) and the CPU each
request cost the service and PostgreSQL (from /proc), which moves less than req/s.

    cp target/release/crm-api /tmp/crm-before   # build, copy; change, build, copy
    ROUNDS=5 ONLY="(a) first,get one" python3 bench/ab.py /tmp/crm-before /tmp/crm-after
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import quick  # noqa: E402  (points bench at the crm_quick database)

ROUNDS = int(os.environ.get("ROUNDS", "3"))
DUR = int(os.environ.get("DUR", "4"))


def cases(user, admin):
    one = bench.call("GET", "/v1/contacts?limit=1", user)["data"][0]["id"]
    deep = bench.deep_cursor(user, 200)
    return {
        "healthz": ("/healthz", None),
        "me": ("/v1/me", user),
        "(a) first": ("/v1/contacts?limit=50", user),
        "(a) deep": (f"/v1/contacts?limit=50&cursor={deep}", user),
        "(c) first": ("/v1/contacts?limit=50", admin),
        "get one": (f"/v1/contacts/{one}", user),
        "(a) total": ("/v1/contacts?limit=50&with_total=true", user),
    }


def main():
    binaries = sys.argv[1:]
    if len(binaries) < 2:
        sys.exit(__doc__)
    with open(quick.STATE) as f:
        logins = json.load(f)
    only = [o for o in os.environ.get("ONLY", "(a) first,get one,me,healthz").split(",") if o]
    results = {b: {} for b in binaries}
    for r in range(ROUNDS):
        for binary in binaries if r % 2 == 0 else binaries[::-1]:
            bench.BIN = binary
            server = bench.Server(bench.PG_URL)
            try:
                paths = cases(bench.login(*logins["user"]), bench.login(*logins["admin"]))
                for name in only:
                    path, token = paths[name]
                    results[binary].setdefault(name, []).append(bench.cpu_per_request(server, path, token, DUR))
            finally:
                server.stop()
    for name in only:
        print(name)
        for binary in binaries:
            runs = results[binary][name]
            med = lambda i: statistics.median(run[i] for run in runs)  # noqa: E731
            print(f"  {binary:28s} {med(0):9,.0f} req/s   service {med(1):5.0f} µs/req   PostgreSQL {med(2):5.0f} µs/req"
                  f"   (req/s {min(r[0] for r in runs):,.0f}–{max(r[0] for r in runs):,.0f})")


if __name__ == "__main__":
    main()
