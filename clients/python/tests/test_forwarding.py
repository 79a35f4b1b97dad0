"""Forwarding the end user's address to Warden (``X-Forwarded-For``), which believes it only
from a trusted proxy (``WARDEN_TRUSTED_PROXIES``).

The evidence is an API key allowed from 203.0.113.0/24 only: the service itself calls from
127.0.0.1, so the key works only when Warden takes the forwarded address as the caller's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from support import Live, provision, start_warden
from test_cloud_function import FakeRequest, auth
from warden_client import Claims, TokenError, Warden

ALLOWED, ELSEWHERE = "203.0.113.7", "198.51.100.1"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A second Warden that trusts loopback as a proxy, as it would trust a gateway."""
    binary = os.environ.get("WARDEN_BIN", "/tmp/warden-bin/warden")
    data_dir = Path(tmp_path_factory.mktemp("proxied"))
    server = start_warden(binary, data_dir, WARDEN_TRUSTED_PROXIES="127.0.0.1/32")
    try:
        provision(server)
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


def fenced_key(live: Live) -> str:
    """A key of Alice's, for her `admin` role (reports:read), usable from 203.0.113.0/24 only."""
    alice = live.token("alice@acme.io")
    return str(live.api_key(alice, [live.ids["role:admin"]], allowed_ips=["203.0.113.0/24"])["key"])


@pytest.fixture(scope="module")
def key(proxied: Live) -> str:
    return fenced_key(proxied)


def test_a_trusting_warden_takes_the_forwarded_address(proxied: Live, key: str) -> None:
    warden = Warden(proxied.base)
    assert warden.allowed(key, "reports:read", forwarded_for=ALLOWED)
    assert warden.allowed(key, "reports:read", forwarded_for=f"{ELSEWHERE}, {ALLOWED}")
    for forwarded in (None, ELSEWHERE):
        with pytest.raises(TokenError) as caught:
            warden.allowed(key, "reports:read", forwarded_for=forwarded)
        assert "not allowed from this address" in str(caught.value)


def test_a_warden_that_trusts_no_proxy_ignores_it(live: Live, warden: Warden) -> None:
    with pytest.raises(TokenError):
        warden.allowed(fenced_key(live), "reports:read", forwarded_for=ALLOWED)


@pytest.mark.parametrize("forwarded", ["203.0.113.7\r\nX-Injected: 1", '"quoted"', "", 7])
def test_a_forwarded_value_that_is_no_address_chain_is_refused_locally(
    proxied: Live, key: str, forwarded: Any
) -> None:
    with pytest.raises(ValueError, match="forwarded_for"):
        Warden(proxied.base).allowed(key, "reports:read", forwarded_for=forwarded)


def test_flask_guards_forward_the_remote_address_when_asked(proxied: Live, key: str) -> None:
    forwarding = Warden(proxied.base, forward_client_address=True)
    plain = Warden(proxied.base)
    app = flask.Flask("forwarding")

    @app.get("/reports")
    @forwarding.permission_required("reports:read")
    def reports() -> Any:
        return {"ok": True}

    @app.get("/plain")
    @plain.permission_required("reports:read")
    def reports_plain() -> Any:
        return {"ok": True}

    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/reports", headers=headers, environ_base={"REMOTE_ADDR": ALLOWED}).json
    elsewhere = client.get("/reports", headers=headers, environ_base={"REMOTE_ADDR": ELSEWHERE})
    assert elsewhere.status_code == 401
    not_forwarded = client.get("/plain", headers=headers, environ_base={"REMOTE_ADDR": ALLOWED})
    assert not_forwarded.status_code == 401
    # What the end user claims in its own X-Forwarded-For is not what the guard forwards.
    spoofed = {**headers, "X-Forwarded-For": ALLOWED}
    assert (
        client.get("/reports", headers=spoofed, environ_base={"REMOTE_ADDR": ELSEWHERE}).status_code
        == 401
    )


def test_cloud_functions_forward_the_requests_remote_addr(proxied: Live, key: str) -> None:
    warden = Warden(proxied.base, forward_client_address=True)

    @warden.permission_required("reports:read")
    def report(request: FakeRequest) -> str:
        return "report"

    request = auth(key)
    request.remote_addr = ALLOWED
    assert report(request) == "report"
    request.remote_addr = ELSEWHERE
    assert report(request)[1] == 401
    assert report(auth(key))[1] == 401  # no remote address: nothing forwarded


def test_fastapi_dependencies_forward_the_client_host(proxied: Live, key: str) -> None:
    warden = Warden(proxied.base, forward_client_address=True)
    app = FastAPI()
    reader = Depends(warden.require_permission("reports:read"))

    @app.get("/reports")
    async def reports(claims: Claims = reader) -> Any:
        return {"sub": claims.sub}

    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app, client=(ALLOWED, 50000)) as client:
        assert client.get("/reports", headers=headers).json() == {"sub": proxied.ids["alice"]}
    for host in (ELSEWHERE, "testclient"):  # a peer that is no address is not forwarded
        with TestClient(app, client=(host, 50000)) as client:
            assert client.get("/reports", headers=headers).status_code == 401
