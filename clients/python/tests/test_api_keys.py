"""``wk_…`` API keys: permission guards and ``allowed`` pass them to ``POST /v1/check``, which
authenticates them; role guards keep needing an access token."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import flask
import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from support import Live
from test_cloud_function import FakeRequest, auth
from test_thrift import documents
from warden_client import Claims, TokenError, Warden, current_claims
from warden_client.apikeys import HOLDER_TTL, Holders

DOCUMENT = {"type": "document", "id": "1"}


@pytest.fixture(scope="module")
def keys(live: Live) -> SimpleNamespace:
    """Alice's keys: one limited to `editor` (documents:edit, read), one to `admin` (reports)."""
    alice = live.token("alice@acme.io")
    editor = live.api_key(alice, [live.ids["role:editor"]])
    reporter = live.api_key(alice, [live.ids["role:admin"]])
    client = live.admin(
        "POST",
        "/v1/clients",
        {"name": "keyed", "account_id": live.ids["acme"], "roles": [live.ids["role:editor"]]},
    )
    machine = live.admin(
        "POST",
        f"/v1/clients/{client['id']}/api-keys",
        {"name": "machine", "roles": [live.ids["role:editor"]]},
    )
    return SimpleNamespace(
        alice=alice, editor=editor["key"], reporter=reporter["key"], machine=machine["key"]
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(warden: Warden) -> flask.Flask:
    app = flask.Flask("keys")

    @app.put("/documents/<id>")
    @warden.permission_required("documents:edit", resource="document")
    def edit(id: str, claims: Claims) -> Any:
        same = flask.g.warden_claims is claims and current_claims() is claims
        return {"sub": claims.sub, "acct": claims.acct, "key": claims.api_key, "same": same,
                "roles": list(claims.roles), "client": claims.is_client}  # fmt: skip

    @app.get("/admin")
    @warden.roles_required("admin")
    def admin() -> Any:
        return {"ok": True}

    @app.get("/me")
    @warden.jwt_required
    def me() -> Any:
        return {"ok": True}

    @app.put("/inner/<id>")
    @warden.permission_required("documents:edit", resource="document")
    @warden.jwt_required
    def inner(id: str) -> Any:
        return {"ok": True}

    @app.put("/stacked/<id>")
    @warden.jwt_required
    @warden.permission_required("documents:edit", resource="document")
    def stacked(id: str) -> Any:
        return {"ok": True}

    return app


def test_allowed_takes_api_keys_and_applies_the_keys_roles(
    warden: Warden, keys: SimpleNamespace
) -> None:
    assert warden.allowed(keys.editor, "documents:edit", DOCUMENT)
    assert warden.allowed(keys.reporter, "reports:read")
    # Alice is an editor, but this key carries only her `admin` role.
    assert not warden.allowed(keys.reporter, "documents:edit", DOCUMENT)
    with pytest.raises(TokenError) as caught:
        warden.allowed("wk_no-such-key", "documents:edit", DOCUMENT)
    assert caught.value.reason == "rejected"


def test_a_permission_guard_takes_an_api_key_and_names_its_holder(
    app: flask.Flask, live: Live, keys: SimpleNamespace
) -> None:
    answer = app.test_client().put("/documents/4", headers=bearer(keys.editor))
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "sub": live.ids["alice"],
        "acct": live.ids["acme"],
        "key": True,
        "same": True,
        "roles": [],
        "client": False,
    }


def test_a_key_without_the_permission_is_403_and_an_unknown_key_401(
    app: flask.Flask, keys: SimpleNamespace
) -> None:
    client = app.test_client()
    denied = client.put("/documents/4", headers=bearer(keys.reporter))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    unknown = client.put("/documents/4", headers=bearer("wk_not-a-key"))
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["WWW-Authenticate"]


def test_a_revoked_key_is_refused_at_once(app: flask.Flask, live: Live, alice: str) -> None:
    created = live.api_key(alice, [live.ids["role:editor"]])
    client = app.test_client()
    assert client.put("/documents/4", headers=bearer(created["key"])).status_code == 200
    live.revoke_key(alice, created["id"])
    refused = client.put("/documents/4", headers=bearer(created["key"]))
    assert refused.status_code == 401
    assert refused.json is not None and "invalid, expired, revoked" in refused.json["detail"]


def test_role_guards_and_jwt_required_need_an_access_token(
    app: flask.Flask, keys: SimpleNamespace
) -> None:
    client = app.test_client()
    routes = [("/admin", client.get), ("/me", client.get)]
    routes += [("/stacked/4", client.put), ("/inner/4", client.put)]
    for path, method in routes:
        refused = method(path, headers=bearer(keys.reporter if path == "/admin" else keys.editor))
        assert refused.status_code == 401, path
        assert refused.json is not None
        assert refused.json["detail"] == "an API key is not accepted here: send an access token"


def test_a_service_clients_key_is_a_client_subject(
    app: flask.Flask, live: Live, keys: SimpleNamespace
) -> None:
    answer = app.test_client().put("/documents/4", headers=bearer(keys.machine))
    assert answer.status_code == 200, answer.json
    assert answer.json is not None
    assert (answer.json["sub"], answer.json["client"], answer.json["key"]) == (
        "client:",
        True,
        True,
    )


def test_a_cloud_function_permission_guard_takes_a_key(
    warden: Warden, live: Live, keys: SimpleNamespace
) -> None:
    @warden.permission_required("reports:read")
    def report(request: FakeRequest) -> str:
        return f"report for {current_claims().sub}"

    assert report(auth(keys.reporter)) == f"report for {live.ids['alice']}"
    assert report(auth(keys.editor))[1] == 403


def test_fastapi_require_permission_takes_a_key_and_require_role_does_not(
    warden: Warden, live: Live, keys: SimpleNamespace
) -> None:
    app = FastAPI()
    editor = Depends(warden.require_permission("documents:edit", "document", resource_id="doc"))
    admin = Depends(warden.require_role("admin"))

    @app.put("/documents/{doc}")
    async def edit(doc: str, claims: Claims = editor) -> Any:
        return {"sub": claims.sub, "key": claims.api_key}

    @app.get("/admin")
    async def report(claims: Claims = admin) -> Any:
        return {"ok": True}

    with TestClient(app) as client:
        answer = client.put("/documents/2", headers=bearer(keys.editor))
        assert answer.json() == {"sub": live.ids["alice"], "key": True}
        assert client.put("/documents/2", headers=bearer(keys.reporter)).status_code == 403
        refused = client.get("/admin", headers=bearer(keys.reporter))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_a_thrift_permission_guard_takes_a_key(
    warden: Warden, live: Live, keys: SimpleNamespace
) -> None:
    @warden.thrift_guard(
        permission="documents:edit", resource="document", exception=documents.AuthError
    )
    def edit(token: str, id: str) -> str:
        return f"{current_claims().sub} edited {id}"

    @warden.thrift_guard(role="admin", exception=documents.AuthError)
    def report(token: str) -> str:
        return "numbers"

    assert edit(keys.editor, "9") == f"{live.ids['alice']} edited 9"
    assert edit(f"Bearer {keys.editor}", "9") == f"{live.ids['alice']} edited 9"
    with pytest.raises(documents.AuthError) as denied:
        edit(keys.reporter, "9")
    assert denied.value.code == 403
    with pytest.raises(documents.AuthError) as refused:
        report(keys.reporter)
    assert (refused.value.code, refused.value.error) == (401, "invalid_token")


class CountingPaths(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.paths.append(request.url.path)
        return self.inner.handle_request(request)


def test_a_keys_holder_is_looked_up_once_but_every_request_is_checked(
    live: Live, keys: SimpleNamespace
) -> None:
    transport = CountingPaths()
    with httpx.Client(transport=transport) as http:
        warden = Warden(live.base, http_client=http)

        @warden.permission_required("reports:read")
        def report(request: FakeRequest) -> str:
            return current_claims().sub

        for _ in range(3):
            assert report(auth(keys.reporter)) == live.ids["alice"]
    assert transport.paths.count("/v1/check") == 3
    assert transport.paths.count("/v1/users/me/permissions") == 1


def test_aallowed_and_the_async_guard_take_keys(live: Live, keys: SimpleNamespace) -> None:
    async def main() -> tuple[bool, bool, Any]:
        warden = Warden(live.base)

        @warden.permission_required("reports:read")
        async def report(request: FakeRequest) -> str:
            return current_claims().sub

        try:
            return (
                await warden.aallowed(keys.editor, "documents:edit", DOCUMENT),
                await warden.aallowed(keys.reporter, "documents:edit", DOCUMENT),
                await report(auth(keys.reporter)),
            )
        finally:
            await warden.aclose()

    assert asyncio.run(main()) == (True, False, live.ids["alice"])


def test_the_holder_cache_forgets_after_its_ttl_and_stays_bounded() -> None:
    now = [0.0]
    holders = Holders(clock=lambda: now[0])
    claims = Claims(sub="u", iss="i", exp=0, api_key=True)
    holders.put("wk_a", claims)
    assert holders.get("wk_a") is claims and holders.get("wk_b") is None
    now[0] = HOLDER_TTL + 1
    assert holders.get("wk_a") is None
    for n in range(2000):
        holders.put(f"wk_{n}", claims)
    assert len(holders._known) <= 1024
    assert holders.get("wk_1999") is claims and holders.get("wk_0") is None
