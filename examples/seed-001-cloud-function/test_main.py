"""Seed 001 against a live Warden: the Functions Framework serves `main.handler`; Warden issues
its tokens, restricts where they may be issued (service client and account IP allow-lists)
and how often (its per-address token bucket)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import functions_framework
import httpx
import pytest

from _testkit import server
from _testkit.api import Api, expect, token_response
from _testkit.attacks import bad_tokens

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def world(warden, admin):
    acme, globex = admin.account(), admin.account()
    roles = {name: admin.role(name, acme, [f"greetings:{name}"]) for name in ("admin", "user", "guest")}
    users = {name: admin.user(acme) for name in roles}
    for name, user in users.items():
        admin.grant(user.id, roles[name], acme)
    mallory = admin.user(globex)
    admin.grant(mallory.id, admin.role("admin", globex, []), globex)
    tokens = {name: user.token(warden.base) for name, user in users.items()}
    tokens["mallory"] = mallory.token(warden.base)
    return SimpleNamespace(acme=acme, roles=roles, tokens=tokens)


@pytest.fixture(scope="module")
def function(warden, world):
    """The function as `functions-framework --target handler --source main.py` serves it."""
    os.environ.update(WARDEN_URL=warden.base, ACCOUNT_ID=world.acme)
    return functions_framework.create_app(target="handler", source=str(HERE / "main.py")).test_client()


def call(function, token=None):
    return function.get("/", headers={"Authorization": f"Bearer {token}"} if token else {})


def client_token(base, client):
    return httpx.post(base + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client["client_id"], client["client_secret"]))


def test_the_function_answers_by_role(function, world):
    assert call(function, world.tokens["admin"]).text == "Hello, Admin!"
    assert call(function, world.tokens["user"]).text == "Hello, User!"


def test_a_missing_token_is_refused_clearly(function):
    response = call(function)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="warden"'
    assert response.json["detail"] == "this endpoint needs a bearer access token"


def test_a_malformed_authorization_header_is_refused(function):
    response = function.get("/", headers={"Authorization": "Bearer not a token"})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_a_role_without_a_greeting_is_403(function, world):
    response = call(function, world.tokens["guest"])
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.json["detail"] == "this needs one of the roles `admin`, `user`"


@pytest.mark.parametrize("kind", ["forged", "tampered", "unsigned", "hmac-confused", "garbage"])
def test_invalid_tokens_are_refused(function, world, jwks, kind):
    response = call(function, bad_tokens(world.tokens["user"], jwks, roles=["admin"])[kind])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json["detail"]


def test_an_expired_token_is_refused(function, world, after_expiry):
    response = call(function, world.tokens["admin"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "expired" in response.json["detail"]


def test_another_accounts_admin_is_refused(function, world):
    response = call(function, world.tokens["mallory"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "another account" in response.text


def test_a_service_client_calls_from_its_allowed_addresses_only(function, warden, admin, world):
    body = {"name": "cron", "account_id": world.acme, "roles": [world.roles["user"]]}
    here = expect(admin.post("/v1/clients", {**body, "allowed_ips": ["127.0.0.0/8"]}), 201)
    issued = expect(client_token(warden.base, here), 200)
    assert call(function, issued["access_token"]).text == "Hello, User!"

    elsewhere = expect(admin.post("/v1/clients", {**body, "allowed_ips": ["192.0.2.0/24"]}), 201)
    refused = client_token(warden.base, elsewhere)  # these tests run on 127.0.0.1
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_an_accounts_allowed_ips_bind_logins(warden, admin, world):
    office = admin.account(allowed_ips=["192.0.2.0/24"])
    user = admin.user(office)
    admin.grant(user.id, admin.role("user", office, []), office)
    refused = token_response(warden.base, user.email, user.password)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    expect(admin.patch(f"/v1/accounts/{office}", {"allowed_ips": ["127.0.0.0/8"]}), 200)
    assert expect(token_response(warden.base, user.email, user.password), 200)["access_token"]


def test_token_requests_are_rate_limited_per_address():
    limited = server.start(token_burst="5", token_rate="1")  # a Warden of its own: the bucket is per address
    try:
        admin = Api(limited.base)
        account = admin.account()
        role = admin.role("user", account, [])
        client = expect(admin.post("/v1/clients", {"name": "busy", "account_id": account, "roles": [role]}), 201)
        answers = [client_token(limited.base, client) for _ in range(8)]
        statuses = [answer.status_code for answer in answers]
        assert statuses[:4] == [200] * 4  # the admin's login took the fifth
        assert statuses[-1] == 429, statuses
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert answers[-1].json()["error"] == "temporarily_unavailable"
    finally:
        server.remove(limited)
