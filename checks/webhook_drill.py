#!/usr/bin/env python3
"""Webhook fault drill (SPEC §10, PostgreSQL): two service processes (replicas, each with
its delivery worker) on one private PostgreSQL cluster, writers creating and changing
contacts through both, a receiver on loopback that verifies every signature with the
official `standardwebhooks` library — and, under that load:

- the receiver answers 500 to its first requests, then lets a few requests run past the
  10 s timeout;
- one replica is killed with SIGKILL (mid-delivery) and started again;
- PostgreSQL is stopped and started again.

Then it waits until the queue is empty and checks:
- every acknowledged write (201/200) has its event, delivered, with that write's payload;
- no event for a write that was refused (422: rolled back), and none for a change that
  is not in the database (a write whose answer was lost may or may not have committed:
  its event may come, as its row may exist);
- events of one contact arrived in the order of its versions;
- a delivery received twice was either retried after a failed or timed-out attempt, or
  sent again after its lease ran out (a killed process or a lost outcome: at least once),
  never twice within a lease (two processes sending one attempt).

Prints the figures (events committed, delivered, retried, duplicates, p50/p99 delay from
the change to its delivery) and exits non-zero when a check fails.

    python3 checks/webhook_drill.py               # CI: about a minute
    python3 checks/webhook_drill.py --seconds 60
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

from db_fault import Cluster, pct
from service import ROOT, Service, call, ensure_binary

LEASE = 15
PYDEPS = os.path.join(ROOT, "target", "pydeps")


def python_path():
    def ok(path):
        env = dict(os.environ, PYTHONPATH=path)
        return subprocess.run([sys.executable, "-c", "import standardwebhooks"], env=env,
                              stderr=subprocess.DEVNULL).returncode == 0
    if ok(""):
        return ""
    if not ok(PYDEPS):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", PYDEPS, "standardwebhooks==1.1.0"], check=True)
    return PYDEPS


class Receiver:
    def __init__(self):
        script = os.path.join(ROOT, "tests", "receiver", "receiver.py")
        self.proc = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=python_path()))
        self.base = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def post(self, path, body):
        import urllib.request
        req = urllib.request.Request(self.base + path, data=body.encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def received(self, name):
        import urllib.request
        with urllib.request.urlopen(f"{self.base}/received/{name}", timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Replicas:
    """The running service processes; writers pick one at random for each request."""

    def __init__(self, url, n):
        self.url = url
        self.lock = threading.Lock()
        self.services = [self.start() for _ in range(n)]

    def start(self):
        return Service(self.url, "drill", WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_POLL_MS="200",
                       WEBHOOK_LEASE_SECS=str(LEASE), DB_TIMEOUT_SECS="2", DB_POOL_SIZE="8")

    def base(self):
        with self.lock:
            return random.choice(self.services).base

    def kill(self, i):
        with self.lock:
            victim = self.services.pop(i)
        victim.proc.kill()
        victim.proc.wait()
        victim.log.close()

    def add(self):
        fresh = self.start()
        with self.lock:
            self.services.append(fresh)

    def stop(self):
        logs = ""
        for s in self.services:
            logs += s.stop()
        return logs


class Writers:
    """Each thread: create a contact, then change it twice, now and then with a bad email
    (refused, rolled back). Each write carries a unique marker in `last_name`."""

    def __init__(self, replicas, token, rate, threads=3):
        self.replicas, self.token = replicas, token
        self.interval = threads / rate
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.writes = []  # (marker, kind, contact id, status, version)
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def note(self, *row):
        with self.lock:
            self.writes.append(row)
        # Paced: the queue is not saturated, so the delay measures delivery, not a backlog.
        time.sleep(self.interval)

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            marker = f"c-{uuid.uuid4().hex[:12]}"
            status, body = call(self.replicas.base(), "POST", "/v1/contacts", self.token,
                                {"first_name": "Drill", "last_name": marker}, timeout=15)
            ident = body.get("id") if status == 201 and isinstance(body, dict) else None
            self.note(marker, "create", ident, status, 1 if ident else None)
            if not ident:
                continue
            for _ in range(2):
                n += 1
                marker = f"p-{uuid.uuid4().hex[:12]}"
                patch = {"last_name": marker}
                if n % 10 == 0:
                    patch["email"] = "not an email"
                status, body = call(self.replicas.base(), "PATCH", f"/v1/contacts/{ident}", self.token, patch,
                                    timeout=15)
                version = body.get("version") if status == 200 and isinstance(body, dict) else None
                self.note(marker, "update", ident, status, version)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=24.0, help="seconds of write load")
    ap.add_argument("--rate", type=float, default=60.0, help="writes per second, in all")
    ap.add_argument("--wait", type=float, default=150.0, help="most seconds to wait for the queue to empty")
    args = ap.parse_args()
    ensure_binary()
    failures = []
    cluster = Cluster()
    rx = Receiver()
    replicas = None
    try:
        replicas = Replicas(cluster.url, 2)
        base = replicas.base()
        status, body = call(base, "POST", "/v1/auth/signup",
                            body={"account_name": "Webhook drill", "email": "owner@drill.test",
                                  "password": "webhook-drill-password", "first_name": "W", "last_name": "Drill"})
        assert status == 201, (status, body)
        token = body["access_token"]
        status, hook = call(base, "POST", "/v1/webhooks", token,
                            {"url": f"{rx.base}/hook/d", "events": ["contact.created", "contact.updated"]})
        assert status == 201, (status, hook)
        rx.post("/secret/d", hook["secret"])
        # The receiver's first answers fail.
        rx.post("/behave/d", json.dumps({"status": 500, "times": 25}))
        t0 = time.time()
        timeline = []
        with Writers(replicas, token, args.rate) as writers:
            def at(t):
                time.sleep(max(0.0, t0 + t - time.time()))
            at(args.seconds * 0.2)
            rx.post("/behave/d", json.dumps({"status": 200, "times": 3, "delay": 12}))
            timeline.append("receiver: 3 requests held 12 s (past the 10 s timeout)")
            at(args.seconds * 0.3)
            replicas.kill(0)
            timeline.append(f"replica killed (SIGKILL) at {time.time() - t0:.1f} s")
            at(args.seconds * 0.4)
            replicas.add()
            timeline.append(f"replica started again at {time.time() - t0:.1f} s")
            at(args.seconds * 0.55)
            cluster.stop()
            down = time.time()
            at(args.seconds * 0.7)
            cluster.start()
            timeline.append(f"PostgreSQL down from {down - t0:.1f} s for {time.time() - down:.1f} s")
            at(args.seconds)
        writes = writers.writes
        acked = {w[0]: w for w in writes if w[3] in (200, 201)}
        refused = {w[0] for w in writes if 400 <= w[3] < 500}
        unknown = {w[0] for w in writes if w[3] == -1 or w[3] >= 500}

        def delivered():
            got = rx.received("d")
            ok = {}
            for g in got:
                if g.get("verified") and 200 <= (g.get("answered") or 0) < 300 and g["body"]["type"] != "webhook.test":
                    ok.setdefault(g["body"]["data"].get("last_name"), g)
            return got, ok

        deadline = time.time() + args.wait
        while True:
            got, ok = delivered()
            missing = [m for m in acked if m not in ok]
            status, page = call(replicas.base(), "GET", f"/v1/webhooks/{hook['id']}/deliveries?status=pending&limit=1",
                                token)
            pending = len(page["data"]) if status == 200 else -1
            if (not missing and pending == 0) or time.time() > deadline:
                break
            time.sleep(1)
        waited = time.time() - t0 - args.seconds

        for line in timeline:
            print(f"  {line}")
        print(f"writes at about {args.rate:.0f}/s for {args.seconds:.0f} s through 2 replicas: {len(writes):,} ({len(acked):,} acknowledged, {len(refused):,} refused with 4xx, "
              f"{len(unknown):,} without an answer or 5xx); queue empty {waited:.1f} s after the load stopped")
        if missing:
            failures.append(f"{len(missing)} acknowledged writes have no delivered event, e.g. {missing[:3]}")
        if pending != 0:
            failures.append(f"deliveries still pending after {args.wait:.0f} s")
        unverified = [g for g in got if not g.get("verified")]
        if unverified:
            failures.append(f"{len(unverified)} requests failed signature verification: {unverified[0]}")
        leaked = sorted(m for m in ok if m in refused)
        if leaked:
            failures.append(f"events for refused (rolled-back) writes: {leaked[:3]}")
        phantom = sorted(m for m in ok if m not in acked and m not in unknown)
        if phantom:
            failures.append(f"events for changes nobody made: {phantom[:3]}")
        # Order per contact: versions ascending in order of arrival.
        by_contact = {}
        for g in sorted(ok.values(), key=lambda g: g["received_at"]):
            by_contact.setdefault(g["body"]["data"]["id"], []).append(g["body"]["data"]["version"])
        disorder = [c for c, vs in by_contact.items() if vs != sorted(vs)]
        if disorder:
            failures.append(f"{len(disorder)} contacts' events arrived out of order, e.g. {by_contact[disorder[0]]}")
        # Receipts of one delivery id.
        receipts = {}
        for g in got:
            receipts.setdefault(g["id"], []).append(g)
        retried = duplicates = 0
        for ident, rs in receipts.items():
            rs.sort(key=lambda g: g["received_at"])
            for first, again in zip(rs, rs[1:]):
                gap = again["received_at"] - first["received_at"]
                if not (200 <= (first.get("answered") or 0) < 300) or first.get("held", 0) >= 10:
                    retried += 1  # a failed or timed-out attempt, retried: the schedule at work
                elif gap >= LEASE - 1:
                    duplicates += 1  # its outcome was lost (killed process, database down): sent again
                else:
                    failures.append(f"delivery {ident} sent twice {gap:.1f} s apart, within one lease")
        delays = [(g["received_at"] - ts(g["body"]["created_at"])) * 1000 for g in ok.values()]
        events = len([m for m in acked if m in ok])
        print(f"events committed: {len(acked):,}, delivered: {events:,} (+{len(ok) - events} for writes whose "
              f"answer was lost), retried after a failed attempt: {retried:,}, duplicates (sent again after a "
              f"lease ran out): {duplicates:,}")
        print(f"delay from the change to its delivery: p50 {pct(delays, 50):.0f} ms, p99 {pct(delays, 99):.0f} ms, "
              f"max {max(delays, default=0):.0f} ms")
    finally:
        logs = replicas.stop() if replicas else ""
        rx.stop()
        cluster.destroy()
    if "panicked" in logs:
        failures.append("a service panicked (see its log)")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print("webhook drill: " + ("FAILED" if failures else "passed"))
    sys.exit(1 if failures else 0)


def ts(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
