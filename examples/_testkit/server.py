"""Start a real Warden binary for a test module: a free port, a throw-away SQLite store, cheap
argon2, a known admin password; stop it (and show its log on failure) afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_EMAIL = "admin@localhost"
ADMIN_PASSWORD = "examples admin passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> str:
    """The Warden binary under test: `$WARDEN_BIN` (set by examples/run-tests.sh)."""
    path = os.environ.get("WARDEN_BIN", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"WARDEN_BIN must name the warden binary (got `{path}`)")
    return path


@dataclass
class WardenServer:
    """A running `warden serve`."""

    base: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.data_dir / "warden.log").read_text(errors="replace")

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Runs `warden <args>` against this server's store."""
        return subprocess.run(
            [binary(), *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=60
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(**settings: str) -> WardenServer:
    """Starts Warden; `settings` are extra WARDEN_* variables (`token_burst="5"` ...)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="warden-example-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_") and k != "DATABASE_URL"}
    env.update(
        WARDEN_LISTEN=f"127.0.0.1:{port}",
        WARDEN_DATA_DIR=str(data_dir),
        WARDEN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WARDEN_ARGON2_MEMORY_KIB="64",
        WARDEN_ARGON2_ITERATIONS="1",
        WARDEN_LOG="warn",
    )
    env.update({f"WARDEN_{key.upper()}": value for key, value in settings.items()})
    log = open(data_dir / "warden.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen([binary(), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = WardenServer(f"http://127.0.0.1:{port}", data_dir, env, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"warden exited with {process.returncode}:\n{server.log}")
        try:
            if httpx.get(server.base + "/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"warden did not become ready:\n{server.log}")


def remove(server: WardenServer) -> None:
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)
