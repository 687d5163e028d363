"""What the check scripts share: a crm-api process on a free port and a JSON client."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("CRM_API_BIN", os.path.join(ROOT, "target", "release", "crm-api"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_binary():
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "crm-api"], cwd=ROOT, check=True)


def call(base, method, path, token=None, body=None, timeout=30):
    """(status, parsed JSON body or None); status -1 when no HTTP answer came."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, OSError) as e:
        return -1, str(e)


class Service:
    """The release binary on `url`, listening on a free port, its output in a log file."""

    def __init__(self, url, tag, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"crm-{tag}-service-", suffix=".log", delete=False)
        env = dict(os.environ, DATABASE_URL=url, JWT_SECRET=f"{tag}-secret-0123456789-0123456789-0123456789",
                   APP_ENV="production", RUST_LOG="warn", BIND_ADDR=f"127.0.0.1:{self.port}",
                   LOGIN_ATTEMPTS_PER_MINUTE="100000", **env)
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if call(self.base, "GET", "/readyz", timeout=2)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("the service did not become ready")

    def stop(self):
        """Stops the service; returns what it logged."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.log.close()
        with open(self.log.name, errors="replace") as f:
            return f.read()
