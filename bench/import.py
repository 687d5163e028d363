#!/usr/bin/env python3
"""CSV import: seconds for `POST /v1/contacts/import` of N rows into a fresh account, on
PostgreSQL and SQLite, against a floor measured in the same run: the database alone
loading the same CSV into a table of its columns (PostgreSQL: psql `\copy`; SQLite:
Python's sqlite3, one transaction), with no checks, tags, audit entries or indexes.

    python3 bench/import.py                        # 10,000 rows, target/release/crm-api
    python3 bench/import.py --rows 20000 --rounds 3
    python3 bench/import.py --bin /tmp/before --bin target/release/crm-api   # A/B, alternating

Each row carries a status, a lead source, two tags, an office and an organization, so the
import checks references as a real file would make it. Needs a release build.
"""
import argparse
import csv
import os
import sqlite3
import subprocess
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

DB = "crm_import"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{DB}?sslmode=disable"


def fresh(backend):
    if backend == "postgres":
        bench.psql(f"DROP DATABASE IF EXISTS {DB}")
        bench.psql(f"CREATE DATABASE {DB}")
        return PG_URL
    path = os.path.join(tempfile.gettempdir(), "crm-import.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return f"sqlite://{path}"


def csv_body(rows, office, org):
    lines = ["first_name,last_name,email,status,lead_source,tags,office_id,organization_id"]
    lines += [f"F{i},L{i},p{i}@import.test,lead,website,a;t{i % 7},{office},{org}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def import_seconds(binary, backend, rows):
    bench.BIN = binary
    server = bench.Server(fresh(backend))
    try:
        out = bench.call("POST", "/v1/auth/signup", body={
            "account_name": "Import", "email": "import@bench.test", "password": "import-bench-password",
            "first_name": "Im", "last_name": "Port"})
        token = out["access_token"]
        office = bench.call("POST", "/v1/offices", token, {"name": "Berlin"})["id"]
        org = bench.call("POST", "/v1/organizations", token, {"name": "Acme"})["id"]
        req = urllib.request.Request(bench.BASE + "/v1/contacts/import", data=csv_body(rows, office, org), method="POST")
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Content-Type", "text/csv")
        started = time.time()
        with urllib.request.urlopen(req, timeout=600) as r:
            result = r.read()
        seconds = time.time() - started
        if f'"created":{rows}'.encode() not in result:
            raise RuntimeError(f"import did not create every row: {result[:300]!r}")
        return seconds
    finally:
        server.stop()


COLUMNS = "first_name text, last_name text, email text, status text, lead_source text, tags text, " \
          "office_id text, organization_id text"


def floor_seconds(backend, rows):
    """The database loading the same file into a plain table of its columns."""
    path = os.path.join(tempfile.gettempdir(), "crm-import-floor.csv")
    with open(path, "wb") as f:
        f.write(csv_body(rows, "0192f000-0000-7000-8000-000000000001", "0192f000-0000-7000-8000-000000000002"))
    if backend == "postgres":
        fresh(backend)
        bench.psql(f"CREATE TABLE import_floor ({COLUMNS})", db=DB)
        started = time.time()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-qc",
                        f"\\copy import_floor FROM '{path}' CSV HEADER"], check=True)
        return time.time() - started
    db_path = fresh(backend).removeprefix("sqlite://")
    started = time.time()
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"CREATE TABLE import_floor ({COLUMNS})")
    with open(path, newline="") as f, db:
        reader = csv.reader(f)
        next(reader)
        db.executemany("INSERT INTO import_floor VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader)
    db.close()
    return time.time() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2, help="runs per figure (median; binaries alternate)")
    ap.add_argument("--bin", action="append", help="release binary to measure (repeat for A/B)")
    ap.add_argument("--backends", default="postgres,sqlite")
    args = ap.parse_args()
    binaries = args.bin or [bench.BIN]
    print(f"CSV import of {args.rows:,} rows, median of {args.rounds} rounds")
    print(f"{'backend':9s} {'binary':32s} {'import s':>9s} {'rows/s':>8s} {'floor s':>7s} {'import/floor':>12s}")
    for backend in args.backends.split(","):
        times = {b: [] for b in binaries}
        floors = []
        for round_ in range(args.rounds):
            order = binaries if round_ % 2 == 0 else list(reversed(binaries))
            for binary in order:
                times[binary].append(import_seconds(binary, backend, args.rows))
            floors.append(floor_seconds(backend, args.rows))
        floor = statistics.median(floors)
        for binary in binaries:
            t = statistics.median(times[binary])
            print(f"{backend:9s} {os.path.relpath(binary):32s} {t:9.2f} {args.rows / t:8.0f} {floor:7.2f} {t / floor:12.1f}")


if __name__ == "__main__":
    main()
