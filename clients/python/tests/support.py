"""Test support: a live Warden process, a fake issuer with local keys, counting transports."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

ADMIN_PASSWORD = "python client admin passphrase"
PASSWORD = "correct horse battery staple"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body)), signature


# -- the live Warden ------------------------------------------------------------------------


@dataclass
class Live:
    """A running Warden with an admin, an account, users, roles, a policy and a client."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path
    admin_token: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    client_id: str = ""
    client_secret: str = ""

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10)

    def login(self, username: str, password: str = PASSWORD, **extra: str) -> dict[str, Any]:
        with self.http() as client:
            form = {"grant_type": "password", "username": username, "password": password}
            response = client.post("/oauth/token", data={**form, **extra})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def token(self, username: str, **extra: str) -> str:
        return str(self.login(username, **extra)["access_token"])

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        with self.http() as client:
            response = client.request(
                method,
                path,
                json=body,
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def api_key(self, token: str, roles: list[str], **fields: Any) -> dict[str, Any]:
        """A new API key of the token's user, limited to ``roles`` (ids): its record and key."""
        with self.http() as client:
            response = client.post(
                "/v1/api-keys",
                json={"name": "script", "roles": roles, **fields},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def revoke_key(self, token: str, key_id: str) -> None:
        with self.http() as client:
            response = client.delete(
                f"/v1/api-keys/{key_id}", headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 204, response.text


def start_warden(binary: str, data_dir: Path, **settings: str) -> Live:
    """Starts ``warden serve``; ``settings`` are extra environment variables (``WARDEN_…``)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        WARDEN_LISTEN=f"127.0.0.1:{port}",
        WARDEN_DATA_DIR=str(data_dir),
        WARDEN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WARDEN_SIGNING_ALGORITHM="ES256",
        WARDEN_ARGON2_MEMORY_KIB="64",
        WARDEN_ARGON2_ITERATIONS="1",
        # A rotated key signs at once, so the rotation test needs no wait.
        WARDEN_JWKS_CACHE_TTL="0",
        WARDEN_LOG="warn",
        **settings,
    )
    env.pop("DATABASE_URL", None)
    env.pop("WARDEN_DATABASE_URL", None)
    env.pop("WARDEN_CONFIG", None)
    log = data_dir / "warden.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"warden exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return Live(base=base, process=process, log=log)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"warden did not start:\n{log.read_text()}")


OWNER_POLICY = (
    'permit(principal, action == Action::"documents:delete", resource) '
    "when { resource has owner_id && resource.owner_id == principal.id };"
)
LOCKED_POLICY = (
    'forbid(principal, action == Action::"documents:edit", resource) '
    "when { resource has locked && resource.locked };"
)


def provision(live: Live) -> None:
    """Creates the account, roles, users, policies and the verifier client the tests use."""
    live.admin_token = live.token("admin@localhost", password=ADMIN_PASSWORD)
    acme = live.admin("POST", "/v1/accounts", {"name": "acme", "display_name": "Acme"})["id"]
    live.ids["acme"] = acme

    def role(name: str, permissions: list[str], inherits: list[str] | None = None) -> str:
        body = {"name": name, "account_id": acme, "permissions": permissions}
        if inherits:
            body["inherits"] = inherits
        return str(live.admin("POST", "/v1/roles", body)["id"])

    viewer = role("viewer", ["documents:read"])
    editor = role("editor", ["documents:edit"], ["viewer"])
    admin = role("admin", ["reports:read"])
    live.ids.update({"role:viewer": viewer, "role:editor": editor, "role:admin": admin})

    def user(email: str, roles: list[str]) -> str:
        body = {"email": email, "password": PASSWORD, "display_name": email, "account_id": acme}
        uid = str(live.admin("POST", "/v1/users", body)["id"])
        for role_id in roles:
            live.admin("POST", f"/v1/users/{uid}/roles", {"role_id": role_id, "account_id": acme})
        return uid

    live.ids["alice"] = user("alice@acme.io", [editor, admin])
    live.ids["bob"] = user("bob@acme.io", [viewer])
    live.ids["carol"] = user("carol@acme.io", [viewer])
    for cedar, what in ((OWNER_POLICY, "owners delete"), (LOCKED_POLICY, "locked")):
        body = {"account_id": acme, "description": what, "cedar": cedar, "enabled": True}
        live.admin("POST", "/v1/policies", body)
    created = live.admin("POST", "/v1/clients", {"name": "python-verifier"})
    live.client_id, live.client_secret = created["client_id"], created["client_secret"]


# -- a fake issuer, for tokens forged with local keys ---------------------------------------


def new_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    jwk = json.loads(get_default_algorithms()[alg].to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def sign(key: Any, alg: str, signing_input: bytes, high_s: bool = False) -> bytes:
    signature = bytes(get_default_algorithms()[alg].sign(signing_input, key))
    if alg == "ES256":
        r, s = signature[:32], int.from_bytes(signature[32:], "big")
        low = min(s, P256_ORDER - s)
        s = P256_ORDER - low if high_s else low
        signature = r + s.to_bytes(32, "big")
    return signature


def forge(
    key: Any,
    alg: str,
    claims: dict[str, Any],
    *,
    kid: str,
    header: dict[str, Any] | None = None,
    raw_header: str | None = None,
    high_s: bool = False,
) -> str:
    head = (
        raw_header
        if raw_header is not None
        else json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid, **(header or {})})
    )
    signing_input = f"{b64(head.encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(key, alg, signing_input.encode(), high_s))}"


class FakeIssuer:
    """An issuer on loopback serving RFC 8414 metadata and a JWKS of local keys.

    ``mode`` ``"up"`` serves, ``"error"`` answers 503; :meth:`stop` closes the port.
    """

    def __init__(self, keys: list[dict[str, Any]], *, metadata: bool = True) -> None:
        self.keys = keys
        self.mode = "up"
        self.metadata = metadata
        self.jwks_requests = 0
        self.metadata_requests = 0
        self.max_age = 300
        self._lock = threading.Lock()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-authorization-server":
                    with issuer._lock:
                        issuer.metadata_requests += 1
                    if not issuer.metadata:
                        self.answer(404, {"detail": "no metadata"})
                        return
                    self.answer(200, {"issuer": issuer.base, "jwks_uri": issuer.base + "/keys"})
                elif self.path in ("/keys", "/.well-known/jwks.json"):
                    with issuer._lock:
                        issuer.jwks_requests += 1
                    if issuer.mode != "up":
                        self.answer(503, {"detail": "down"})
                        return
                    self.answer(200, {"keys": issuer.keys}, max_age=issuer.max_age)
                else:
                    self.answer(404, {"detail": "no such path"})

            def answer(self, status: int, body: Any, max_age: int | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if max_age is not None:
                    self.send_header("Cache-Control", f"public, max-age={max_age}")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Forger:
    """Local keys of a fake issuer, and claims that would pass as the issuer's."""

    issuer: FakeIssuer
    keys: dict[str, tuple[Any, str]]

    def claims(self, **override: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer.base,
            "sub": "user-1",
            "aud": "warden",
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "jti": "j1",
            "client_id": "warden",
            "sid": "s1",
            "roles": ["editor"],
        }
        claims.update(override)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str = "es", **kwargs: Any) -> str:
        key, alg = self.keys[kid]
        claims = kwargs.pop("claims", None) or self.claims()
        return forge(key, kwargs.pop("alg", alg), claims, kid=kid, **kwargs)


_KEYS: dict[str, tuple[Any, str]] = {}


def fake_issuer() -> Iterator[Forger]:
    if not _KEYS:  # RSA key generation is slow: one set of keys for the whole run
        for kid, alg in (("es", "ES256"), ("ed", "EdDSA"), ("rs", "RS256")):
            _KEYS[kid] = (new_key(alg), alg)
    keys = dict(_KEYS)
    issuer = FakeIssuer([public_jwk(key, alg, kid) for kid, (key, alg) in keys.items()])
    try:
        yield Forger(issuer, keys)
    finally:
        issuer.stop()


# -- transports that count and fail on demand -----------------------------------------------


class Counting(httpx.BaseTransport):
    """A real transport that counts JWKS requests and can be made to fail."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.jwks = 0
        self.down = False
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("jwks.json"):
            with self.lock:
                self.jwks += 1
        if self.down:
            raise httpx.ConnectError("the network is down", request=request)
        return self.inner.handle_request(request)


class AsyncCounting(httpx.AsyncBaseTransport):
    """:class:`Counting` for the asynchronous client, sharing its counter and switch."""

    def __init__(self, sync: Counting) -> None:
        self.sync = sync
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("jwks.json"):
            with self.sync.lock:
                self.sync.jwks += 1
        if self.sync.down:
            raise httpx.ConnectError("the network is down", request=request)
        return await self.inner.handle_async_request(request)
