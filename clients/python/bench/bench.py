"""Per-call cost of warden-client against a live Warden, with PyJWT alone as the reference.

    target/python-venv/bin/python clients/python/bench/bench.py <warden binary> [--build debug]

Starts the binary on a free loopback port with a throw-away SQLite store, provisions an
account, a role and a user, then measures in one run:

- ``warden.verify`` with the key set cached: the same token over and over, and distinct tokens
  (one login each) in turn;
- ``warden.verify`` cold: a new ``Warden`` each time, so the first call fetches the issuer
  metadata and the JWKS over loopback; once with an HTTP client kept across them, once with
  the ``httpx.Client`` each new ``Warden`` makes (its TLS context, CA bundle loaded, costs
  tens of milliseconds once per process, whatever the issuer's scheme);
- PyJWT alone, the reference: ``jwt.decode_complete`` with the public key already loaded, ES256
  only, ``iss``, ``aud``, ``exp``/``nbf``/``iat`` with the same leeway, required claims, then
  the ``typ`` header (what ``verify`` checks, short of its canonical-encoding, duplicate-member
  and low-s checks);
- ``warden.allowed`` over loopback, with an access token and with an API key (Warden's answer
  included: this is mostly the server and the HTTP round trip, so a debug build shows here).

Every measurement gets a warm-up, then timed batches in rounds, one batch of each per round
(interleaved, so a noisy moment weighs on every row alike); each figure is the median of its
batch means, in microseconds per call, with its ratio to PyJWT's.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cryptography
import httpx
import jwt

import warden_client
from warden_client import Warden

ADMIN_PASSWORD = "benchmark admin passphrase"
PASSWORD = "benchmark user passphrase"


@dataclass
class Server:
    """A running ``warden serve`` and what was provisioned in it."""

    base: str
    process: subprocess.Popen[bytes]
    token: str = ""
    tokens: tuple[str, ...] = ()
    api_key: str = ""


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def warden_server(binary: str) -> Iterator[Server]:
    """Starts Warden with a throw-away store and cheap argon2; stops it afterwards."""
    port, data_dir = free_port(), Path(tempfile.mkdtemp(prefix="warden-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.pop("DATABASE_URL", None)
    env.update(
        WARDEN_LISTEN=f"127.0.0.1:{port}",
        WARDEN_DATA_DIR=str(data_dir),
        WARDEN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WARDEN_SIGNING_ALGORITHM="ES256",
        WARDEN_ARGON2_MEMORY_KIB="64",
        WARDEN_ARGON2_ITERATIONS="1",
        WARDEN_TOKEN_RATE="100000",
        WARDEN_TOKEN_BURST="100000",
        WARDEN_LOG="warn",
    )
    log = (data_dir / "warden.log").open("wb")
    process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"warden exited with {process.returncode}")
            try:
                if httpx.get(server.base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("warden did not start within 60 s")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def provision(server: Server, distinct: int) -> None:
    """An account, a role granting ``documents:read``, a user, its tokens and an API key."""
    with httpx.Client(base_url=server.base, timeout=30) as http:

        def login(username: str, password: str) -> str:
            form = {"grant_type": "password", "username": username, "password": password}
            answer = http.post("/oauth/token", data=form)
            answer.raise_for_status()
            return str(answer.json()["access_token"])

        admin = {"Authorization": f"Bearer {login('admin@localhost', ADMIN_PASSWORD)}"}

        def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
            answer = http.post(path, json=body, headers=headers)
            answer.raise_for_status()
            return answer.json()

        account = post("/v1/accounts", {"name": "bench"}, admin)["id"]
        role = {"name": "reader", "account_id": account, "permissions": ["documents:read"]}
        role_id = post("/v1/roles", role, admin)["id"]
        user = {"email": "reader@bench.io", "password": PASSWORD, "account_id": account}
        user_id = post("/v1/users", user, admin)["id"]
        post(f"/v1/users/{user_id}/roles", {"role_id": role_id, "account_id": account}, admin)
        server.tokens = tuple(login("reader@bench.io", PASSWORD) for _ in range(distinct))
        server.token = server.tokens[0]
        mine = {"Authorization": f"Bearer {server.token}"}
        server.api_key = post("/v1/api-keys", {"name": "bench", "roles": [role_id]}, mine)["key"]


@dataclass
class Measurement:
    """One row of the table: what is called, how many times per batch, each batch's mean."""

    name: str
    calls: int
    function: Callable[[], object]
    means: list[float]

    def batch(self) -> None:
        """Times one batch; records its mean microseconds per call."""
        start = time.perf_counter_ns()
        for _ in range(self.calls):
            self.function()
        self.means.append((time.perf_counter_ns() - start) / self.calls / 1000)


def run(measurements: list[Measurement], rounds: int) -> None:
    """A warm-up batch of each, then ``rounds`` rounds of one batch of each, interleaved so
    that a noisy moment on the machine weighs on every row alike.
    """
    for measurement in measurements:
        for _ in range(max(1, measurement.calls // 10)):
            measurement.function()
    for _ in range(rounds):
        for measurement in measurements:
            measurement.batch()


def pyjwt_reference(server: Server) -> Callable[[str], object]:
    """PyJWT alone: the issuer's ES256 key loaded once, then ``decode_complete`` per call."""
    keys = jwt.PyJWKSet.from_dict(httpx.get(server.base + "/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(server.token)["kid"]
    key = next(k.key for k in keys.keys if k.key_id == kid)
    options: Any = {"require": ["exp", "iat", "iss", "sub", "aud"]}

    def decode(token: str) -> object:
        decoded = jwt.decode_complete(
            token,
            key,
            algorithms=["ES256"],
            audience="warden",
            issuer=server.base,
            leeway=30,
            options=options,
        )
        if str(decoded["header"].get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise jwt.InvalidTokenError("not an access token")
        return decoded["payload"]

    decode(server.token)
    return decode


def measure(server: Server, calls: int, rounds: int) -> list[tuple[str, int, float]]:
    """Each measurement: its name, the calls per batch, the median microseconds per call."""
    warden = Warden(server.base, audience="warden")
    warden.verify(server.token)  # keys fetched once, cached from here on
    distinct = itertools.cycle(server.tokens)
    shared = httpx.Client(timeout=5, follow_redirects=False)

    def cold(own_client: bool) -> None:
        fresh = Warden(server.base, audience="warden", http_client=None if own_client else shared)
        try:
            fresh.verify(server.token)
        finally:
            fresh.close()

    decode = pyjwt_reference(server)
    document = {"type": "document", "id": "1"}
    for credential, what in ((server.token, "access token"), (server.api_key, "API key")):
        if not warden.allowed(credential, "documents:read", document):
            raise SystemExit(f"Warden denied the {what}: the benchmark is misprovisioned")
    cold_calls, remote_calls = max(20, calls // 100), max(50, calls // 20)
    measurements: list[tuple[str, int, Callable[[], object]]] = [
        ("`warden.verify`, keys cached, same token", calls, lambda: warden.verify(server.token)),
        (
            f"`warden.verify`, keys cached, {len(server.tokens)} distinct tokens in turn",
            calls,
            lambda: warden.verify(next(distinct)),
        ),
        (
            "`warden.verify` cold: a new `Warden` fetches metadata + JWKS (HTTP client kept)",
            cold_calls,
            functools.partial(cold, False),
        ),
        (
            "`warden.verify` cold, the new `Warden` making its own `httpx.Client` too",
            cold_calls,
            functools.partial(cold, True),
        ),
        (
            "PyJWT `jwt.decode_complete`, key pre-loaded (reference)",
            calls,
            lambda: decode(server.token),
        ),
        (
            "`warden.allowed` over loopback, access token",
            remote_calls,
            functools.partial(warden.allowed, server.token, "documents:read", document),
        ),
        (
            "`warden.allowed` over loopback, API key",
            remote_calls,
            functools.partial(warden.allowed, server.api_key, "documents:read", document),
        ),
    ]
    timed = [Measurement(name, count, function, []) for name, count, function in measurements]
    try:
        run(timed, rounds)
    finally:
        shared.close()
        warden.close()
    return [(m.name, m.calls, statistics.median(m.means)) for m in timed]


def build_of(binary: str, given: str | None) -> str:
    """``debug`` or ``release``: as given, else from a ``target/<profile>/`` path."""
    if given:
        return given
    parts = Path(binary).resolve().parts
    for profile in ("release", "debug"):
        if profile in parts:
            return profile
    return "unknown (pass --build)"


def main() -> None:
    """Parses the arguments, runs every measurement, prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="the warden binary to start (release or debug build)")
    parser.add_argument("--calls", type=int, default=5000, help="calls per batch (default 5000)")
    parser.add_argument("--distinct", type=int, default=100, help="distinct tokens (default 100)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--build", choices=["debug", "release"], help="the binary's build")
    args = parser.parse_args()
    binary = shutil.which(args.binary) or args.binary
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"not an executable: {binary}")
    with warden_server(binary) as server:
        provision(server, args.distinct)
        rows = measure(server, args.calls, args.rounds)
    reference = next(us for name, _, us in rows if name.startswith("PyJWT"))
    command = " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv])
    print(f"command: `{command}`")
    print(
        f"Warden: `{binary}` ({build_of(binary, args.build)} build); "
        f"Python {platform.python_version()}, warden-client {warden_client.__version__}, "
        f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}, "
        f"{platform.machine()}, ES256"
    )
    print()
    print("| measurement | calls per batch | µs per call | ratio to PyJWT |")
    print("|---|---:|---:|---:|")
    for name, calls, us in rows:
        print(f"| {name} | {calls} | {us:,.1f} | {us / reference:,.2f}x |")


if __name__ == "__main__":
    main()
