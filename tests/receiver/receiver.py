#!/usr/bin/env python3
"""A webhook receiver for the tests (SPEC §10), on loopback: verifies every request's
signature with the official Standard Webhooks library (`standardwebhooks` from PyPI) and
records what it got, per hook name.

    POST /secret/<name>   body: the whsec_ secret of that hook
    POST /behave/<name>   body: {"status": 500, "times": 2, "delay": 0}: the next answers
    POST /hook/<name>     a delivery: verified, recorded, answered
    GET  /received/<name> every request so far: [{verified, error, id, timestamp, body,
                          received_at, answered}]

Prints its port on the first line of stdout.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

LOCK = threading.Lock()
SECRETS = {}
BEHAVIOUR = {}
RECEIVED = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, payload=b""):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (its timeout): a real receiver sees the same

    def do_GET(self):
        kind, _, name = self.path.strip("/").partition("/")
        if kind != "received":
            return self.answer(404)
        with LOCK:
            got = list(RECEIVED.get(name, []))
        self.answer(200, json.dumps(got).encode())

    def do_POST(self):
        kind, _, name = self.path.strip("/").partition("/")
        raw = self.body()
        if kind == "secret":
            with LOCK:
                SECRETS[name] = raw.decode()
            return self.answer(204)
        if kind == "behave":
            with LOCK:
                BEHAVIOUR[name] = json.loads(raw)
            return self.answer(204)
        if kind != "hook":
            return self.answer(404)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secret = SECRETS.get(name)
        entry = {"id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"), "error": None,
                 "received_at": time.time()}
        try:
            if secret is None:
                raise ValueError("no secret registered for " + name)
            entry["body"] = Webhook(secret).verify(raw.decode(), headers)
            entry["verified"] = True
        except Exception as e:  # recorded, and answered 400 like a real receiver would
            entry["verified"] = False
            entry["error"] = f"{type(e).__name__}: {e}"
            entry["body"] = raw.decode(errors="replace")
        with LOCK:
            RECEIVED.setdefault(name, []).append(entry)
            b = BEHAVIOUR.get(name)
            status = 200 if entry["verified"] else 400
            delay = 0
            if b and b.get("times", 0) > 0:
                b["times"] -= 1
                status = b.get("status", status)
                delay = b.get("delay", 0)
            entry["answered"] = status
            entry["held"] = delay
        if delay:
            time.sleep(delay)
        self.answer(status, b'{"ok": true}')


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
