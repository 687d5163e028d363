#!/usr/bin/env python3
"""crm-api benchmark: scoped contact lists and single-record operations against floors
measured in the same run (pgbench on the very SQL the service sends, that SQL without the
access predicate, and /healthz of the same binary). Prints a table; see README.md.

    python3 bench/bench.py                 # full: PostgreSQL 10k/100k/1M, SQLite 100k
    python3 bench/bench.py --smoke         # CI: PostgreSQL and SQLite at 2k, 2 s per figure
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "crm-api")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = "crm_bench"
# Loopback without TLS for the service and pgbench alike: TLS to 127.0.0.1 (libpq's
# default sslmode=prefer) costs the service ~45% of its list throughput (measured).
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}?sslmode=disable"
PG_LOG = os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log")
PORT = 18181
BASE = f"http://127.0.0.1:{PORT}"
CONNECTIONS = 16
SECRET = "bench-secret-bench-secret-bench-secret-0123"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, text=True, capture_output=True, **kw)


def ensure_tools():
    if not shutil.which("wrk"):
        print("installing wrk (Debian)", file=sys.stderr)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk", shell=True, check=True)
    if not shutil.which("oha"):
        print("installing oha (crates.io)", file=sys.stderr)
        subprocess.run(["cargo", "install", "--locked", "oha"], check=True)
    if not shutil.which("pgbench"):
        subprocess.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib", shell=True, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "crm-api"], cwd=ROOT, check=True)


def psql(sql, db="postgres"):
    return sh(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtA", "-c", sql]).stdout


def seed(url, contacts):
    env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=SECRET, APP_ENV="production", RUST_LOG="warn")
    t = time.time()
    out = sh([BIN, "seed", "--contacts", str(contacts), "--users", "40", "--offices", "8", "--seed", "7",
              "--default-access", "limited"], env=env).stdout
    logins = {}
    for line in out.splitlines():
        m = re.match(r"(\w+)\s+(\S+)\s+password: (\S+)", line)
        if m:
            logins[m.group(1)] = (m.group(2), m.group(3))
    return logins, time.time() - t


class Server:
    def __init__(self, url):
        env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=SECRET, APP_ENV="production", RUST_LOG="warn",
                   BIND_ADDR=f"127.0.0.1:{PORT}", DB_POOL_SIZE=os.environ.get("BENCH_POOL_SIZE", "8"), LOGIN_ATTEMPTS_PER_MINUTE="1000")
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(BASE + "/readyz", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_mb(self, field="VmHWM"):
        """VmHWM: the peak since start (includes argon2's 19 MiB per login); VmRSS: now."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def call(method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def login(email, password):
    return call("POST", "/v1/auth/login", body={"email": email, "password": password})["access_token"]


def deep_cursor(token, pages):
    cursor = None
    for _ in range(pages):
        path = "/v1/contacts?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = call("GET", path, token)
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    return cursor


def wrk(path, token=None, duration=10, method="GET", body=None):
    """Closed loop: peak requests/s."""
    lua = ["wrk.method = '%s'" % method]
    if token:
        lua.append("wrk.headers['Authorization'] = 'Bearer %s'" % token)
    if body is not None:
        lua.append("wrk.headers['Content-Type'] = 'application/json'")
        lua.append("wrk.body = [[%s]]" % json.dumps(body))
    script = "/tmp/crm-bench.lua"
    with open(script, "w") as f:
        f.write("\n".join(lua) + "\n")
    out = sh(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "-s", script, BASE + path]).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{path}: {errors.group(1)} non-2xx responses")
    return float(m.group(1))


def oha(path, token, rate, duration=10, method="GET", body=None):
    """Open loop at a fixed rate with latency correction: p50/p99 in ms."""
    cmd = ["oha", "--no-tui", "--output-format", "json", "-z", f"{duration}s", "-q", str(max(1, int(rate))),
           "--latency-correction", "-c", str(CONNECTIONS), "-m", method]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = json.loads(sh(cmd + [BASE + path]).stdout)
    pct = out["latencyPercentiles"]
    return pct["p50"] * 1000, pct["p99"] * 1000


def capture_sql(logins, path):
    """The statements PostgreSQL executed for one request of (a), parameters inlined: the
    caller's row (with grants) and the list. A short-lived server runs with statement
    logging on, so the measured one never logs. Returns (caller SQL, list SQL)."""
    psql(f"ALTER DATABASE {PG_DB} SET log_min_duration_statement = 0")
    start = os.path.getsize(PG_LOG)
    server = Server(PG_URL)
    try:
        token = login(*logins["user"])
        call("GET", path, token)
        time.sleep(0.5)
    finally:
        server.stop()
        psql(f"ALTER DATABASE {PG_DB} RESET log_min_duration_statement")
    with open(PG_LOG, errors="replace") as f:
        f.seek(start)
        log = f.read()

    def last(pattern):
        found = None
        for m in re.finditer(r"execute [^:]*: (" + pattern + r")\n.*?DETAIL:\s+parameters: (.*?)\n", log, re.S):
            found = m
        if not found:
            return None
        sql, params = found.group(1), found.group(2)
        values = dict(re.findall(r"(\$\d+) = ('(?:[^']|'')*'|NULL)", params))
        return re.sub(r"\$\d+", lambda v: values.get(v.group(0), v.group(0)), sql)

    caller = last(r'SELECT "users"\."id", "users"\."account_id", "users"\."role"[^\n]*')
    listed = last(r'SELECT .*?FROM "contacts" WHERE .*?LIMIT (?:\$\d+|\d+)')
    if not caller or not listed:
        print("could not capture the SQL of (a) from " + PG_LOG, file=sys.stderr)
        return None
    return caller, listed


def without_predicate(sql):
    """The same query with the access rule removed: no level column, account filter only."""
    sql = re.sub(r',\s*\(CASE WHEN contacts\.private.*?\)\s+FROM "contacts"', ' FROM "contacts"', sql, flags=re.S)
    sql = re.sub(r"WHERE \(contacts\.account_id = ('[^']*') AND .*?\) ORDER BY", r"WHERE (contacts.account_id = \1) ORDER BY", sql, flags=re.S)
    return sql


def pgbench(statements, duration):
    """tps of pgbench -M prepared running `statements` (one transaction = all of them)."""
    path = "/tmp/crm-bench.sql"
    with open(path, "w") as f:
        for sql in statements:
            f.write(sql.replace("\n", " ") + ";\n")
    psql(f"ALTER DATABASE {PG_DB} SET jit = off")
    out = sh(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared", "-f", path, "-c", str(CONNECTIONS),
              "-j", "2", "-T", str(duration), PG_DB], env=dict(os.environ, PGSSLMODE="disable")).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def postgres_pids():
    return subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()


def cpu_per_request(server, path, token, duration):
    """Closed-loop req/s with the CPU microseconds each request cost the service and
    PostgreSQL (all its processes), from /proc: where a request's time goes."""
    s0, p0 = cpu_seconds([server.proc.pid]), cpu_seconds(postgres_pids())
    rate = wrk(path, token, duration)
    s1, p1 = cpu_seconds([server.proc.pid]), cpu_seconds(postgres_pids())
    n = max(rate * duration, 1)
    return rate, (s1 - s0) / n * 1e6, (p1 - p0) / n * 1e6


def run_size(backend, url, contacts, duration, results):
    logins, seed_s = seed(url, contacts)
    captured = capture_sql(logins, "/v1/contacts?limit=50") if backend == "postgres" else None
    server = Server(url)
    try:
        user = login(*logins["user"])
        focused = login(*logins["focused"])
        admin = login(*logins["admin"])
        deep = deep_cursor(user, 3 if contacts <= 20000 else 200)
        one = call("GET", "/v1/contacts?limit=1", user)["data"][0]["id"]
        own = call("POST", "/v1/contacts", user, {"first_name": "Bench", "last_name": "Mark"})["id"]
        rows = []
        health = wrk("/healthz", duration=duration)
        rows.append(("healthz (floor)", health, None, None))
        cases = [
            ("(a) user limited, first page", "/v1/contacts?limit=50", user),
            ("(a) user limited, deep page", f"/v1/contacts?limit=50&cursor={deep}", user),
            ("(a) user limited, q=nakamura", "/v1/contacts?limit=50&q=nakamura", user),
            ("(b) focused, first page", "/v1/contacts?limit=50", focused),
            ("(b) focused, q=nakamura", "/v1/contacts?limit=50&q=nakamura", focused),
            ("(c) admin, first page", "/v1/contacts?limit=50", admin),
            ("(c) admin, deep page", f"/v1/contacts?limit=50&cursor={deep}", admin),
            ("(c) admin, q=nakamura", "/v1/contacts?limit=50&q=nakamura", admin),
            ("GET /v1/contacts/{id}", f"/v1/contacts/{one}", user),
            ("(a) with_total=true", "/v1/contacts?limit=50&with_total=true", user),
        ]
        under_load = 0.0
        for name, path, token in cases:
            peak = wrk(path, token, duration)
            under_load = max(under_load, server.rss_mb("VmRSS"))
            p50, p99 = oha(path, token, peak * 0.7, duration)
            under_load = max(under_load, server.rss_mb("VmRSS"))
            rows.append((name, peak, p50, p99))
        # Floors before the write scenarios: their updates leave dead index entries at the
        # head of the sort index that the first scan after them has to step over.
        floors = {}
        if backend == "postgres":
            floors["cpu (a)"] = cpu_per_request(server, "/v1/contacts?limit=50", user, duration)
            floors["cpu get one"] = cpu_per_request(server, f"/v1/contacts/{one}", user, duration)
        if captured:
            caller, listed = captured
            # With and without the predicate take turns, twice, best of each: one run of
            # pgbench on this shared machine moves by ±30 %, which would swamp a few percent.
            with_pred, without_pred = [], []
            for _ in range(2):
                with_pred.append(pgbench([listed], duration))
                without_pred.append(pgbench([without_predicate(listed)], duration))
            floors["pgbench (a) same SQL"] = max(with_pred)
            floors["pgbench (a) without predicate"] = max(without_pred)
            floors["pgbench (a) request SQL"] = pgbench([caller, listed], duration)
            floors["sql"] = listed
            floors["caller sql"] = caller
        patch = {"job_title": "bench"}
        peak = wrk(f"/v1/contacts/{own}", user, duration, "PATCH", patch)
        under_load = max(under_load, server.rss_mb("VmRSS"))
        p50, p99 = oha(f"/v1/contacts/{own}", user, peak * 0.7, duration, "PATCH", patch)
        rows.append(("PATCH /v1/contacts/{id}", peak, p50, p99))
        new = {"first_name": "Load", "last_name": "Test"}
        peak = wrk("/v1/contacts", user, duration, "POST", new)
        under_load = max(under_load, server.rss_mb("VmRSS"))
        p50, p99 = oha("/v1/contacts", user, peak * 0.7, duration, "POST", new)
        rows.append(("POST /v1/contacts", peak, p50, p99))
        results.append({"backend": backend, "contacts": contacts, "seed_s": seed_s, "rows": rows,
                        "floors": floors, "rss_mb": server.rss_mb(),
                        "rss_load_mb": under_load})
    finally:
        server.stop()


def print_results(results):
    for r in results:
        health = r["rows"][0][1]
        print(f"\n### {r['backend']}, {r['contacts']:,} contacts (seeded in {r['seed_s']:.1f}s, server RSS under load {r['rss_load_mb']:.0f} MB, peak incl. logins {r['rss_mb']:.0f} MB)\n")
        print("| scenario | peak req/s | vs /healthz | p50 ms @70% | p99 ms @70% |")
        print("|---|---:|---:|---:|---:|")
        for name, peak, p50, p99 in r["rows"]:
            lat = f"{p50:.2f} | {p99:.2f}" if p50 is not None else "– | –"
            print(f"| {name} | {peak:,.0f} | {peak / health:.2f} | {lat} |")
        if r["floors"]:
            a = next(p for n, p, _, _ in r["rows"] if n.startswith("(a) user limited, first"))
            print(f"\nCaptured SQL of (a):\n\n```sql\n{r['floors']['sql']}\n```\n\nWithout the predicate:\n\n```sql\n{without_predicate(r['floors']['sql'])}\n```")
            same = r["floors"].get("pgbench (a) same SQL")
            bare = r["floors"].get("pgbench (a) without predicate")
            both = r["floors"].get("pgbench (a) request SQL")
            print(f"\nThe caller's row, read first on every request:\n\n```sql\n{r['floors']['caller sql']}\n```")
            print(f"\npgbench -M prepared, {CONNECTIONS} clients (best of two alternating runs): same SQL {same:,.0f} tps; without the access predicate {bare:,.0f} tps; "
                  f"the request's two statements (caller, list) {both:,.0f} tps")
            print(f"- service / pgbench same SQL: {a / same:.2f}")
            print(f"- service / pgbench on the request's two statements: {a / both:.2f}")
            print(f"- cost of the predicate (pgbench without / with): {bare / same:.2f}")
        for key, label in (("cpu (a)", "list (a)"), ("cpu get one", "GET one")):
            if key in r["floors"]:
                rate, svc, pg = r["floors"][key]
                print(f"- CPU per request, {label} at {rate:,.0f} req/s: service {svc:.0f} µs, PostgreSQL {pg:.0f} µs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="2k contacts, 2 s per figure (CI)")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--sqlite-size", type=int, default=100000)
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.sqlite_size, args.duration = "2000", 2000, 2
    ensure_tools()
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        psql(f"DROP DATABASE IF EXISTS {PG_DB}")
        psql(f"CREATE DATABASE {PG_DB}")
        run_size("postgres", PG_URL, size, args.duration, results)
    if args.sqlite_size:
        path = "/tmp/crm-bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        run_size("sqlite", f"sqlite://{path}", args.sqlite_size, args.duration, results)
    print_results(results)
    pg = {r["contacts"]: r for r in results if r["backend"] == "postgres"}
    lite = [r for r in results if r["backend"] == "sqlite"]
    if lite and lite[0]["contacts"] in pg:
        a = lambda r: next(p for n, p, _, _ in r["rows"] if n.startswith("(a) user limited, first"))
        print(f"\nSQLite / PostgreSQL, list (a) at {lite[0]['contacts']:,}: {a(lite[0]) / a(pg[lite[0]['contacts']]):.2f}")
    if len(pg) > 1:
        lo, hi = min(pg), max(pg)
        p50 = lambda r: next(x for n, _, x, _ in r["rows"] if n.startswith("(a) user limited, first"))
        print(f"p50 of list (a) at {hi:,} / at {lo:,}: {p50(pg[hi]) / p50(pg[lo]):.2f}")
    print(f"\n{len(results)} runs, 0 failed")


if __name__ == "__main__":
    main()
