"""What the Python suites share: a throw-away Warden on a free loopback port (embedded store,
cheap argon2 parameters) and the PASS/FAIL record of their checks."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request

results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition)))
    print(("PASS " if condition else "FAIL ") + name + ("" if condition else f"  {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, password, algorithm=None):
    """Starts `binary serve` on a fresh data directory (signing with `algorithm` if given);
    returns the process and its base URL."""
    port = free_port()
    data = tempfile.mkdtemp()
    env = dict(os.environ, WARDEN_LISTEN=f"127.0.0.1:{port}", WARDEN_DATA_DIR=data, WARDEN_ADMIN_PASSWORD=password,
               WARDEN_ARGON2_MEMORY_KIB="64", WARDEN_ARGON2_ITERATIONS="1", WARDEN_LOG="warn")
    env.pop("DATABASE_URL", None)
    env.pop("WARDEN_SIGNING_ALGORITHM", None)
    if algorithm:
        env["WARDEN_SIGNING_ALGORITHM"] = algorithm
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("warden did not start")
