#!/usr/bin/env python3
"""Database fault drill (PostgreSQL): stop the database under load, start it again, and
check that the service fails soft and loud and recovers by itself.

It never touches a shared server: it initdb's a throwaway cluster on its own port, runs
the release binary against it, and drives load from threads (writers POST contacts,
readers list them and poll /readyz). Then:

- while the database is down, every request must answer 503 (no 500, no hang past
  DB_TIMEOUT_SECS + 1 s), and /readyz must answer 503;
- after it is back, /readyz and a write must succeed within 5 s, with no restart;
- every write acknowledged with 2xx (before, during or after) must be readable.

    python3 checks/db_fault.py                  # 5 s outage (CI)
    python3 checks/db_fault.py --down 30 --cycles 3

Prints its figures and exits non-zero when a check fails.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from service import Service, call as request, ensure_binary, free_port

DB_TIMEOUT = 2
RECOVERY_LIMIT = 5.0


def pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v))
    return f"/usr/lib/postgresql/{versions[-1]}/bin/{name}"


class Cluster:
    """A private PostgreSQL cluster owned by the `postgres` user when run as root."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crm-fault-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run(pg_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    def run(self, *cmd):
        subprocess.run(self.as_user + list(cmd), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} -c fsync=on"
        self.run(pg_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self):
        self.run(pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"


class Load:
    """Threads that keep requesting until stopped; every outcome is recorded."""

    def __init__(self, base, token, writers=4, readers=3):
        self.base, self.token = base, token
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (kind, start, end, status, id)
        self.threads = [threading.Thread(target=self.writer, args=(i,)) for i in range(writers)]
        self.threads += [threading.Thread(target=self.reader) for _ in range(readers)]
        self.threads.append(threading.Thread(target=self.ready))

    def note(self, kind, start, status, ident=None):
        with self.lock:
            self.records.append((kind, start, time.time(), status, ident))

    def writer(self, n):
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            start = time.time()
            status, body = request(self.base, "POST", "/v1/contacts", self.token,
                                   {"first_name": f"Fault{n}", "last_name": f"Drill{i}"})
            self.note("write", start, status, body.get("id") if status == 201 and body else None)

    def reader(self):
        while not self.stop_flag.is_set():
            start = time.time()
            status, _ = request(self.base, "GET", "/v1/contacts?limit=20", self.token)
            self.note("read", start, status)

    def ready(self):
        while not self.stop_flag.is_set():
            start = time.time()
            status, _ = request(self.base, "GET", "/readyz")
            self.note("readyz", start, status)
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def pct(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--down", type=float, default=5.0, help="seconds the database stays down")
    ap.add_argument("--cycles", type=int, default=1)
    ap.add_argument("--warm", type=float, default=3.0)
    ap.add_argument("--after", type=float, default=7.0, help="seconds of load after each restart")
    args = ap.parse_args()
    ensure_binary()

    failures = []
    cluster = Cluster()
    service = None
    try:
        service = Service(cluster.url, "fault", DB_TIMEOUT_SECS=str(DB_TIMEOUT), DB_POOL_SIZE="8")
        status, body = request(service.base, "POST", "/v1/auth/signup",
                               body={"account_name": "Fault drill", "email": "owner@fault.test",
                                     "password": "fault-drill-password", "first_name": "Fault", "last_name": "Owner"})
        if status != 201:
            raise RuntimeError(f"signup answered {status}")
        token = body["access_token"]
        windows = []  # (stopped, starting, up): stop returned, start called, start returned
        with Load(service.base, token) as load:
            time.sleep(args.warm)
            for _ in range(args.cycles):
                cluster.stop()
                stopped = time.time()
                time.sleep(args.down)
                starting = time.time()
                cluster.start()
                windows.append((stopped, starting, time.time()))
                time.sleep(args.after)
        records = load.records

        def phase(r):
            for stopped, starting, _ in windows:
                # Started after the server was gone, finished before it was started again.
                if stopped <= r[1] and r[2] <= starting:
                    return "down"
            return "up"

        print(f"database stopped {args.cycles}× for {args.down:.0f} s under load "
              f"(4 writers, 3 readers, /readyz every 50 ms; DB_TIMEOUT_SECS={DB_TIMEOUT})")
        print(f"requests: {len(records):,}")
        for name in ("up", "down"):  # "up" includes the stop and the start themselves
            rs = [r for r in records if phase(r) == name]
            by_status = {}
            for r in rs:
                by_status[r[3]] = by_status.get(r[3], 0) + 1
            lat = [(r[2] - r[1]) * 1000 for r in rs]
            print(f"  database {name:4s}: {len(rs):6,} requests, statuses {dict(sorted(by_status.items()))}, "
                  f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat, default=0):.1f} ms")
        down = [r for r in records if phase(r) == "down"]
        bad_down = [r for r in down if r[3] != 503]
        if bad_down:
            failures.append(f"{len(bad_down)} requests while the database was down answered other than 503: "
                            f"{sorted(set(r[3] for r in bad_down))}")
        slow = [r for r in down if r[2] - r[1] > DB_TIMEOUT + 1]
        if slow:
            failures.append(f"{len(slow)} requests took longer than DB_TIMEOUT_SECS + 1 s while the database was down")
        ready_down = [r for r in down if r[0] == "readyz"]
        if not ready_down or any(r[3] != 503 for r in ready_down):
            failures.append(f"/readyz while down: {sorted(set(r[3] for r in ready_down))} (expected only 503)")
        print(f"  while down: {len(bad_down)} answers other than 503, {len(ready_down)} /readyz polls all "
              f"{'503' if ready_down and all(r[3] == 503 for r in ready_down) else 'NOT 503'}")
        five_hundreds = [r for r in records if r[3] >= 500 and r[3] != 503]
        if five_hundreds:
            failures.append(f"{len(five_hundreds)} answers were 5xx other than 503")
        for i, (_, _, up_at) in enumerate(windows):
            later = sorted((r for r in records if r[1] >= up_at), key=lambda r: r[2])
            ready_ok = next((r[2] for r in later if r[0] == "readyz" and r[3] == 200), None)
            write_ok = next((r[2] for r in later if r[0] == "write" and r[3] == 201), None)
            if ready_ok is None or write_ok is None:
                failures.append(f"cycle {i + 1}: the service did not recover")
                continue
            recovery = max(ready_ok, write_ok) - up_at
            print(f"  cycle {i + 1}: recovered {recovery:.2f} s after the database accepted connections "
                  f"(/readyz 200 after {ready_ok - up_at:.2f} s, first write after {write_ok - up_at:.2f} s)")
            if recovery > RECOVERY_LIMIT:
                failures.append(f"cycle {i + 1}: recovery took {recovery:.2f} s (limit {RECOVERY_LIMIT:.0f} s)")
        acked = [r[4] for r in records if r[0] == "write" and r[3] == 201]
        lost = [i for i in acked if request(service.base, "GET", f"/v1/contacts/{i}", token)[0] != 200]
        print(f"  acknowledged writes: {len(acked):,}, all readable afterwards: {'yes' if not lost else 'NO'}")
        if lost:
            failures.append(f"{len(lost)} acknowledged writes are missing: {lost[:5]}")
        status, page = request(service.base, "GET", "/v1/contacts?limit=1&with_total=true", token)
        if status == 200 and page["total"] != len(acked) and not page["total_is_estimate"]:
            failures.append(f"{page['total']} contacts stored but {len(acked)} acknowledged")
    finally:
        log = service.stop() if service else ""
        cluster.destroy()
    if "panicked" in log:
        failures.append("the service panicked (see its log)")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print("db fault drill: " + ("FAILED" if failures else "passed"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
