#!/usr/bin/env python3
"""Custom-field filters on the scoped contact list and the timeline of a busy contact
(issue 13), each against pgbench running the very statements the request sends, measured
in the same run.

    python3 bench/cf_timeline.py                     # 1M contacts, 5 s per figure
    python3 bench/cf_timeline.py --contacts 20000 --duration 2   # quick

Data: `crm-api seed` (as bench.py), then two contact custom fields defined through the API
(`industry`, a select of 10 options; `score`, a number 0..999) whose values are filled in
SQL for every contact (the JSON column and the `custom_values` index alike, as the service
writes them), and one contact of the benchmark user with 10,000 notes (`busy`) and one
with 10 (`quiet`). Prints a Markdown table and the plans of the `cf.` list queries.
"""
import argparse
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

DB = "crm_cf"
bench.PG_DB = DB
bench.PG_URL = f"postgres://postgres@127.0.0.1:5432/{DB}?sslmode=disable"
OPTIONS = ["software", "retail", "energy", "health", "finance", "media", "logistics", "public", "education", "other"]


def q(sql):
    return bench.psql(sql, DB).strip()


def fill(logins):
    """Custom fields and timeline data, once per database."""
    server = bench.Server(bench.PG_URL)
    try:
        owner = bench.login(*logins["owner"])
        user = bench.login(*logins["user"])
        for body in (
            {"entity": "contact", "key": "industry", "label": "Industry", "type": "select", "options": OPTIONS},
            {"entity": "contact", "key": "score", "label": "Score", "type": "number"},
        ):
            bench.call("POST", "/v1/custom-fields", owner, body)
        # Two contacts the user sees at view or above: the busy one and the quiet one.
        seen = [c for c in bench.call("GET", "/v1/contacts?limit=200", user)["data"] if c["access"] != "limited"]
        busy, quiet = seen[0]["id"], seen[1]["id"]
    finally:
        server.stop()
    account = q(f"SELECT account_id FROM contacts WHERE id = '{busy}'")
    ind = q(f"SELECT id FROM custom_fields WHERE key = 'industry' AND account_id = '{account}'")
    score = q(f"SELECT id FROM custom_fields WHERE key = 'score' AND account_id = '{account}'")
    opts = "ARRAY[" + ",".join(f"'{o}'" for o in OPTIONS) + "]"
    t = time.time()
    # Deterministic values from the id's hash: industry uniform over 10, score over 0..999.
    q(f"""UPDATE contacts SET custom_fields = json_build_object(
            'industry', ({opts})[1 + abs(hashtext(id)) % 10], 'score', abs(hashtext(id || 's')) % 1000)::text
          WHERE account_id = '{account}'""")
    q(f"""INSERT INTO custom_values (field_id, entity_id, account_id, value_text, value_number)
          SELECT '{ind}', id, account_id, custom_fields::json->>'industry', NULL FROM contacts WHERE account_id = '{account}'
          UNION ALL
          SELECT '{score}', id, account_id, custom_fields::json->>'score', (custom_fields::json->>'score')::float8
          FROM contacts WHERE account_id = '{account}'""")
    author = q(f"SELECT id FROM users WHERE account_id = '{account}' AND role = 'owner'")
    for contact, n in ((busy, 10000), (quiet, 10)):
        q(f"""INSERT INTO interactions (id, account_id, kind, contact_id, author_id, body, occurred_at, version, created_at, updated_at)
              SELECT gen_random_uuid()::text, '{account}', 'note', '{contact}', '{author}', 'Note ' || i,
                     now() - make_interval(mins => i), 1, now() - make_interval(mins => i), now()
              FROM generate_series(1, {n}) AS i""")
    # The UPDATE above left a dead version of every contact: vacuum, as autovacuum would.
    q("VACUUM (ANALYZE) contacts")
    q("VACUUM (ANALYZE) custom_values")
    q("VACUUM (ANALYZE) interactions")
    print(f"filled custom fields and notes in {time.time() - t:.1f}s", file=sys.stderr)
    return busy, quiet


def capture(token, path):
    """Every statement PostgreSQL executed for one request, parameters inlined, from a
    short-lived server with statement logging on (the measured server never logs)."""
    q(f"ALTER DATABASE {DB} SET log_min_duration_statement = 0")
    start = os.path.getsize(bench.PG_LOG)
    server = bench.Server(bench.PG_URL)
    try:
        bench.call("GET", path, token)
        time.sleep(0.5)
    finally:
        server.stop()
        q(f"ALTER DATABASE {DB} RESET log_min_duration_statement")
    with open(bench.PG_LOG, errors="replace") as f:
        f.seek(start)
        lines = f.read().splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.search(r"execute [^:]*: (.*)$", line)
        if not m or "readyz" in line:
            continue
        sql = m.group(1)
        params = lines[i + 1] if i + 1 < len(lines) and "DETAIL:  parameters:" in lines[i + 1] else ""
        values = dict(re.findall(r"(\$\d+) = ('(?:[^']|'')*'|NULL)", params))
        sql = re.sub(r"\$\d+", lambda v: values.get(v.group(0), v.group(0)), sql)
        # A bound timestamp inlined as a literal must stay a timestamp for pgbench.
        sql = re.sub(r"\(SELECT ('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?')\)", r"(SELECT \1::timestamp)", sql)
        # Only the request's own reads: not the start-up's migration check, lock or SETs.
        if not sql.startswith("SELECT") or "__diesel" in sql or "pg_advisory" in sql or sql.strip() == "SELECT 1":
            continue
        out.append(sql)
    return out


def timeline_cursor(token, contact, pages):
    cursor = None
    for _ in range(pages):
        path = f"/v1/contacts/{contact}/timeline?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = bench.call("GET", path, token)
        cursor = page["next_cursor"] or cursor
    return cursor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1000000)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--reseed", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk") or not shutil.which("pgbench"):
        sys.exit("needs wrk and pgbench (bench.py installs both)")
    bench.sh(["cargo", "build", "--release", "--locked", "--bin", "crm-api"], cwd=bench.ROOT)
    state = f"/tmp/crm-cf-{args.contacts}.txt"
    if args.reseed or not os.path.exists(state):
        bench.psql(f"DROP DATABASE IF EXISTS {DB}")
        bench.psql(f"CREATE DATABASE {DB}")
        logins, seconds = bench.seed(bench.PG_URL, args.contacts)
        print(f"seeded {args.contacts:,} contacts in {seconds:.1f}s", file=sys.stderr)
        busy, quiet = fill(logins)
        with open(state, "w") as f:
            f.write(repr((logins, busy, quiet)))
    with open(state) as f:
        logins, busy, quiet = eval(f.read())  # our own file, written above
    server = bench.Server(bench.PG_URL)
    try:
        user = bench.login(*logins["user"])
        admin = bench.login(*logins["admin"])
        deep = timeline_cursor(user, busy, 100)
        cases = [
            ("(a) list, no filter (reference)", "/v1/contacts?limit=50", user),
            ("(a) list, cf.industry=software (10 %)", "/v1/contacts?limit=50&cf.industry=software", user),
            ("(a) list, cf.score.gte=990 (1 %)", "/v1/contacts?limit=50&cf.score.gte=990", user),
            ("(c) admin, cf.industry=software", "/v1/contacts?limit=50&cf.industry=software", admin),
            ("(c) admin, cf.score.gte=990", "/v1/contacts?limit=50&cf.score.gte=990", admin),
            ("timeline, quiet contact (10 notes)", f"/v1/contacts/{quiet}/timeline?limit=50", user),
            ("timeline, busy contact (10,000 notes), first page", f"/v1/contacts/{busy}/timeline?limit=50", user),
            ("timeline, busy contact, page 101", f"/v1/contacts/{busy}/timeline?limit=50&cursor={deep}", user),
        ]
        rows = [("healthz (floor)", bench.wrk("/healthz", duration=args.duration), None, None)]
        for name, path, token in cases:
            rows.append((name, bench.wrk(path, token, args.duration), path, token))
    finally:
        server.stop()
    print(f"\n### PostgreSQL, {args.contacts:,} contacts; `{' '.join(sys.argv)}`\n")
    print("| scenario | service req/s | pgbench tps, same statements | service / pgbench | vs /healthz |")
    print("|---|---:|---:|---:|---:|")
    health = rows[0][1]
    plans = []
    for name, rate, path, token in rows:
        if path is None:
            print(f"| {name} | {rate:,.0f} | – | – | 1.00 |")
            continue
        statements = capture(token, path)
        tps = bench.pgbench(statements, args.duration)
        print(f"| {name} | {rate:,.0f} | {tps:,.0f} ({len(statements)} statements) | {rate / tps:.2f} | {rate / health:.2f} |")
        if "cf." in path and name.startswith("(a)"):
            plans.append((name, statements[-1]))
    for name, sql in plans:
        plan = q("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
        print(f"\nPlan of {name}:\n\n```\n{plan}\n```")


if __name__ == "__main__":
    main()
