"""Seed 004 against a live Warden: the seed's form post logs in at Warden's /oauth/token, and
`warden.require_role` replaces the RoleChecker, with the right status codes and challenges."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient

from _testkit.api import expect
from _testkit.attacks import bad_tokens

HERE = Path(__file__).parent
PASSWORD = "yourpassword is long enough"


@pytest.fixture(scope="module")
def world(warden, admin):
    acme, globex = admin.account(), admin.account()
    admin_role, user_role = admin.role("admin", acme, []), admin.role("user", acme, [])
    boss = admin.user(acme, username="admin", password=PASSWORD)  # the seed logs in as `admin`
    johndoe = admin.user(acme, username="johndoe", password=PASSWORD)
    admin.grant(boss.id, admin_role, acme)
    admin.grant(johndoe.id, user_role, acme)
    mallory = admin.user(globex, username="mallory", password=PASSWORD)
    admin.grant(mallory.id, admin.role("admin", globex, []), globex)
    return SimpleNamespace(acme=acme, boss=boss, johndoe=johndoe, mallory=mallory)


@pytest.fixture(scope="module")
def client(warden, world):
    os.environ.update(WARDEN_URL=warden.base, ACCOUNT_ID=world.acme)
    sys.path.insert(0, str(HERE))
    with TestClient(importlib.import_module("main").app) as client:
        yield client


def seed_login(warden, username, password=PASSWORD):
    """The seed's own curl: -H 'Content-Type: application/x-www-form-urlencoded'
    -d 'grant_type=password&username=admin&password=yourpassword', sent to Warden instead."""
    return httpx.post(warden.base + "/oauth/token",
                      content=f"grant_type=password&username={username}&password={password}",
                      headers={"Content-Type": "application/x-www-form-urlencoded", "accept": "application/json"})


@pytest.fixture(scope="module")
def tokens(warden, world):
    return {name: expect(seed_login(warden, name.replace("boss", "admin")), 200)["access_token"]
            for name in ("boss", "johndoe", "mallory")}


def get(client, path, token=None):
    return client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


def test_the_seeds_form_post_logs_in_at_warden(warden, world):
    answer = seed_login(warden, "admin")
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_wrong_password_is_an_oauth_error(warden, world):
    answer = seed_login(warden, "admin", "not the password at all")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_the_admin_reads_items(client, world, tokens):
    response = get(client, "/items/", tokens["boss"])
    assert response.status_code == 200
    assert response.json() == [{"item_id": "Foo", "owner": world.boss.id}]


def test_a_user_reads_users_but_not_items(client, world, tokens):
    assert get(client, "/users/", tokens["johndoe"]).json() == [{"user_id": world.johndoe.id}]
    response = get(client, "/items/", tokens["johndoe"])
    assert response.status_code == 403  # the seed's RoleChecker answered 401 here
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.json() == {"detail": "this needs the role `admin`"}


def test_roles_are_not_a_hierarchy_unless_warden_says_so(client, tokens):
    assert get(client, "/users/", tokens["boss"]).status_code == 403  # admin lacks `user`, as in the seed


def test_no_token_is_a_bare_challenge(client):
    response = get(client, "/items/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="warden"'


@pytest.mark.parametrize("kind", ["forged", "tampered", "unsigned", "hmac-confused", "garbage"])
def test_bad_tokens_are_401(client, tokens, jwks, kind):
    response = get(client, "/items/", bad_tokens(tokens["johndoe"], jwks, roles=["admin"])[kind])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(client, tokens, after_expiry):
    response = get(client, "/items/", tokens["boss"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "expired" in response.json()["detail"]


def test_another_tenants_admin_is_401(client, tokens):
    response = get(client, "/items/", tokens["mallory"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json() == {"detail": "the token was issued in another account"}


def test_openapi_declares_the_bearer_scheme(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["warden"]["scheme"] == "bearer"
