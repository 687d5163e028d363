#!/usr/bin/env python3
"""CSV import: seconds for `POST /v1/contacts/import` of N rows into a fresh account, on
PostgreSQL and SQLite, against a floor measured in the same run: the database inserting
the very rows that import wrote (contacts, tags, audit entries) again, in one transaction,
from a copy of them: `INSERT ... SELECT`, same tables, same indexes, no client at all.
Also prints the server's peak RSS (MB, VmHWM read when the import has answered).

    python3 bench/import.py                        # 10,000 rows, target/release/crm-api
    python3 bench/import.py --rows 20000 --rounds 3
    python3 bench/import.py --bin /tmp/before --bin target/release/crm-api   # A/B, alternating

Each row carries a status, a lead source, two tags, an office and an organization, so the
import checks references as a real file would make it. Needs a release build.
"""
import argparse
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
    url = fresh(backend)
    server = bench.Server(url)
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
        return seconds, url, server.rss_mb("VmHWM")
    finally:
        server.stop()


KEEP = [("contacts", "TRUE"), ("contact_tags", "TRUE"), ("audit_log", "entity_type = 'contact'")]


def floor_seconds(backend, url):
    """The database inserting again, in one transaction, exactly the rows the import
    wrote (contacts, their tags, their audit entries), into the same tables with the same
    indexes; copied aside and deleted first, so only the inserts are timed."""
    aside = [f"CREATE TABLE keep_{t} AS SELECT * FROM {t} WHERE {w}" for t, w in KEEP]
    delete = [f"DELETE FROM {t} WHERE {w}" for t, w in reversed(KEEP)]
    insert = [f"INSERT INTO {t} SELECT * FROM keep_{t}" for t, _ in KEEP]
    if backend == "postgres":
        bench.psql("; ".join(aside + delete), db=DB)
        bench.psql("VACUUM", db=DB)
        started = time.time()
        bench.psql("BEGIN; " + "; ".join(insert) + "; COMMIT", db=DB)
        return time.time() - started
    db = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
    for sql in aside + delete:
        db.execute(sql)
    started = time.time()
    db.execute("BEGIN")
    for sql in insert:
        db.execute(sql)
    db.execute("COMMIT")
    seconds = time.time() - started
    db.close()
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2, help="runs per figure (median; binaries alternate)")
    ap.add_argument("--bin", action="append", help="release binary to measure (repeat for A/B)")
    ap.add_argument("--backends", default="postgres,sqlite")
    args = ap.parse_args()
    binaries = args.bin or [bench.BIN]
    print(f"CSV import of {args.rows:,} rows, median of {args.rounds} rounds")
    print(f"{'backend':9s} {'binary':32s} {'import s':>9s} {'rows/s':>8s} {'floor s':>7s} {'import/floor':>12s} {'peak RSS':>8s}")
    for backend in args.backends.split(","):
        times = {b: [] for b in binaries}
        peaks = {b: [] for b in binaries}
        floors = []
        for round_ in range(args.rounds):
            order = binaries if round_ % 2 == 0 else list(reversed(binaries))
            for binary in order:
                seconds, url, rss = import_seconds(binary, backend, args.rows)
                times[binary].append(seconds)
                peaks[binary].append(rss)
            floors.append(floor_seconds(backend, url))
        floor = statistics.median(floors)
        for binary in binaries:
            t = statistics.median(times[binary])
            print(f"{backend:9s} {os.path.relpath(binary):32s} {t:9.2f} {args.rows / t:8.0f} {floor:7.2f} "
                  f"{t / floor:12.1f} {max(peaks[binary]):8.0f}")


if __name__ == "__main__":
    main()
