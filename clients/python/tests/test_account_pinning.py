"""``Warden(..., account=...)``: role names are per account, so a service pins its own.

Acme (the service's tenant) and Globex each have a role named ``admin``; Mallory is Globex's
admin. Unpinned, her token passes an ``admin`` check it has no business passing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from support import ADMIN_PASSWORD, PASSWORD, Live
from test_thrift import documents
from warden_client import Claims, TokenError, Warden


@pytest.fixture(scope="module")
def globex(live: Live) -> SimpleNamespace:
    account = live.admin("POST", "/v1/accounts", {"name": "globex"})["id"]
    body = {"name": "admin", "account_id": account, "permissions": ["reports:read"]}
    admin = live.admin("POST", "/v1/roles", body)["id"]
    user = {"email": "mallory@globex.io", "password": PASSWORD, "account_id": account}
    mallory = live.admin("POST", "/v1/users", user)["id"]
    live.admin("POST", f"/v1/users/{mallory}/roles", {"role_id": admin, "account_id": account})
    token = live.token("mallory@globex.io")
    return SimpleNamespace(account=account, token=token, key=live.api_key(token, [admin])["key"])


@pytest.fixture
def pinned(live: Live) -> Iterator[Warden]:
    client = Warden(live.base, audience="warden", account=live.ids["acme"])
    yield client
    client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unpinned_another_tenants_admin_passes_a_role_check(
    warden: Warden, alice: str, globex: SimpleNamespace
) -> None:
    assert warden.verify(alice).has_roles("admin")
    assert warden.verify(globex.token).has_roles("admin")  # Globex's `admin`, not Acme's


def test_pinned_verify_refuses_tokens_of_another_account(
    live: Live, pinned: Warden, alice: str, globex: SimpleNamespace
) -> None:
    assert pinned.verify(alice).acct == live.ids["acme"]
    with pytest.raises(TokenError) as caught:
        pinned.verify(globex.token)
    assert caught.value.reason == "account"
    assert str(caught.value) == "the token was issued in another account"
    no_account = live.token("admin@localhost", password=ADMIN_PASSWORD)  # a global admin
    with pytest.raises(TokenError) as global_token:
        pinned.verify(no_account)
    assert global_token.value.reason == "account"


def test_averify_is_pinned_too(live: Live, globex: SimpleNamespace) -> None:
    async def main() -> str:
        client = Warden(live.base, account=live.ids["acme"])
        try:
            await client.averify(globex.token)
        except TokenError as err:
            return err.reason
        finally:
            await client.aclose()
        return "accepted"

    assert asyncio.run(main()) == "account"


def test_a_pinned_role_guard_answers_401_to_another_tenants_admin(
    pinned: Warden, alice: str, globex: SimpleNamespace
) -> None:
    app = flask.Flask("pinned")

    @app.get("/admin")
    @pinned.roles_required("admin")
    def admin() -> Any:
        return {"ok": True}

    client = app.test_client()
    assert client.get("/admin", headers=bearer(alice)).status_code == 200
    refused = client.get("/admin", headers=bearer(globex.token))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer realm="warden", error="invalid_token", '
        'error_description="the token was issued in another account"'
    )


def test_a_pinned_fastapi_dependency_and_thrift_guard_refuse_it_too(
    pinned: Warden, alice: str, globex: SimpleNamespace
) -> None:
    app = FastAPI()
    admin_role = Depends(pinned.require_role("admin"))

    @app.get("/admin")
    async def admin(claims: Claims = admin_role) -> Any:
        return {"sub": claims.sub}

    with TestClient(app) as client:
        assert client.get("/admin", headers=bearer(alice)).status_code == 200
        refused = client.get("/admin", headers=bearer(globex.token))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    @pinned.thrift_guard(role="admin", exception=documents.AuthError)
    def report(token: str) -> str:
        return "numbers"

    assert report(alice) == "numbers"
    with pytest.raises(documents.AuthError) as caught:
        report(globex.token)
    assert (caught.value.code, caught.value.error) == (401, "invalid_token")


def test_pinned_checks_name_the_account_so_warden_refuses_other_tenants(
    warden: Warden, pinned: Warden, alice: str, globex: SimpleNamespace
) -> None:
    assert warden.allowed(globex.token, "reports:read")  # in Globex, Mallory may
    assert warden.allowed(globex.key, "reports:read")
    assert pinned.allowed(alice, "reports:read")
    for credential in (globex.token, globex.key):
        with pytest.raises(TokenError) as caught:
            pinned.allowed(credential, "reports:read")
        assert caught.value.reason == "account"


def test_a_pinned_permission_guard_refuses_another_tenants_api_key(
    warden: Warden, pinned: Warden, globex: SimpleNamespace
) -> None:
    app = flask.Flask("pinned-keys")

    @app.get("/reports")
    @pinned.permission_required("reports:read")
    def reports() -> Any:
        return {"ok": True}

    @app.get("/unpinned")
    @warden.permission_required("reports:read")
    def unpinned() -> Any:
        return {"ok": True}

    client = app.test_client()
    refused = client.get("/reports", headers=bearer(globex.key))
    assert refused.status_code == 401
    assert refused.json is not None and refused.json["error"] == "invalid_token"
    assert client.get("/unpinned", headers=bearer(globex.key)).status_code == 200


def test_aallowed_is_pinned(live: Live, globex: SimpleNamespace) -> None:
    async def main() -> str:
        client = Warden(live.base, account=live.ids["acme"])
        try:
            await client.aallowed(globex.key, "reports:read")
        except TokenError as err:
            return err.reason
        finally:
            await client.aclose()
        return "allowed"

    assert asyncio.run(main()) == "account"


def test_an_empty_account_is_refused_at_construction(live: Live) -> None:
    with pytest.raises(ValueError, match="account"):
        Warden(live.base, account=" ")
