"""Seed 000 against a live Warden: login, @jwt_required, @roles_required('admin'), an API key,
the owner rule as a Cedar policy, and the attacks the seed's hand-rolled version invites."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from _testkit.api import expect
from _testkit.attacks import bad_tokens

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def world(warden, admin):
    """Acme (this service's tenant) and Globex (another tenant with its own `admin` role)."""
    acme, globex = admin.account(), admin.account()
    admin.policy((HERE / "owner.cedar").read_text(), acme, "owners read their documents")
    acme_admin = admin.role("admin", acme, ["documents:*", "reports:read"])
    reporter = admin.role("reporter", acme, ["reports:read"])
    globex_admin = admin.role("admin", globex, ["documents:*", "reports:read"])
    people = SimpleNamespace(
        alice=admin.user(acme), bob=admin.user(acme), carol=admin.user(acme), ci=admin.user(acme),
        mallory=admin.user(globex),
    )
    admin.grant(people.carol.id, acme_admin, acme)
    admin.grant(people.ci.id, reporter, acme)
    admin.grant(people.mallory.id, globex_admin, globex)
    tokens = {name: user.token(warden.base) for name, user in vars(people).items()}
    return SimpleNamespace(acme=acme, globex=globex, reporter=reporter, acme_admin=acme_admin,
                           globex_admin=globex_admin, people=people, tokens=tokens)


@pytest.fixture(scope="module")
def client(warden, world):
    os.environ.update(WARDEN_URL=warden.base, ACCOUNT_ID=world.acme)
    sys.path.insert(0, str(HERE))
    app = importlib.import_module("app").app
    return app.test_client()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def challenge(response):
    return response.headers.get("WWW-Authenticate", "")


def api_key(admin, token, roles, **fields):
    body = {"name": "script", "roles": roles, **fields}
    return expect(admin.as_(token).post("/v1/api-keys", body), 201)


# -- the seed's scenario -------------------------------------------------------------------


def test_a_user_logs_in_at_warden_and_reaches_the_protected_resource(client, world):
    response = client.get("/protected_resource", headers=bearer(world.tokens["alice"]))
    assert response.status_code == 200
    assert response.json == {"message": "You have accessed a protected resource"}


def test_no_token_is_a_bare_bearer_challenge(client):
    response = client.get("/protected_resource")
    assert response.status_code == 401
    assert challenge(response) == 'Bearer realm="warden"'


def test_only_admins_reach_the_admin_only_resource(client, world):
    assert client.get("/admin_only_resource", headers=bearer(world.tokens["carol"])).status_code == 200
    denied = client.get("/admin_only_resource", headers=bearer(world.tokens["alice"]))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in challenge(denied)
    assert "`admin`" in denied.json["detail"]


def test_the_owner_rule_is_a_cedar_policy(client, world):
    created = client.post("/protected_resource", json={"title": "alice's notes"},
                          headers=bearer(world.tokens["alice"]))
    assert created.status_code == 201
    path = f"/protected_resource/{created.json['id']}"
    assert client.get(path, headers=bearer(world.tokens["alice"])).status_code == 200  # the owner
    assert client.get(path, headers=bearer(world.tokens["carol"])).status_code == 200  # documents:*
    stranger = client.get(path, headers=bearer(world.tokens["bob"]))
    assert stranger.status_code == 403
    assert 'error="insufficient_scope"' in challenge(stranger)
    assert client.get("/protected_resource/999", headers=bearer(world.tokens["bob"])).status_code == 404


def test_a_script_uses_an_api_key(client, admin, world):
    key = api_key(admin, world.tokens["ci"], [world.reporter])["key"]
    assert key.startswith("wk_")
    response = client.get("/reports", headers=bearer(key))
    assert response.status_code == 200
    assert response.json == {"reports": ["monthly"]}


def test_an_api_key_cannot_pass_a_role_check(client, admin, world):
    key = api_key(admin, world.tokens["carol"], [world.acme_admin])["key"]  # Carol's `admin` role
    assert client.get("/reports", headers=bearer(key)).status_code == 200
    response = client.get("/admin_only_resource", headers=bearer(key))
    assert response.status_code == 401
    assert response.json["detail"] == "an API key is not accepted here: send an access token"


def test_a_revoked_api_key_stops_working_at_once(client, admin, world):
    created = api_key(admin, world.tokens["ci"], [world.reporter])
    assert client.get("/reports", headers=bearer(created["key"])).status_code == 200
    expect(admin.as_(world.tokens["ci"]).delete(f"/v1/api-keys/{created['id']}"), 204)
    response = client.get("/reports", headers=bearer(created["key"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)


def test_an_api_key_outside_its_allowed_addresses_is_refused(client, admin, world):
    key = api_key(admin, world.tokens["ci"], [world.reporter], allowed_ips=["192.0.2.0/24"])["key"]
    response = client.get("/reports", headers=bearer(key))  # the service calls from 127.0.0.1
    assert response.status_code == 401
    assert "not allowed from this address" in response.json["detail"]


def test_a_user_without_the_permission_gets_403_on_reports(client, world):
    response = client.get("/reports", headers=bearer(world.tokens["alice"]))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in challenge(response)


# -- attacks --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/protected_resource", "/admin_only_resource", "/reports",
                                  "/protected_resource/1"])
@pytest.mark.parametrize("kind", ["forged", "tampered", "unsigned", "hmac-confused", "garbage"])
def test_bad_tokens_claiming_admin_are_refused(client, world, jwks, path, kind):
    token = bad_tokens(world.tokens["alice"], jwks, roles=["admin"], scope="admin")[kind]
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 401, response.json
    assert 'error="invalid_token"' in challenge(response)


def test_an_expired_token_is_refused(client, world, after_expiry):
    response = client.get("/admin_only_resource", headers=bearer(world.tokens["carol"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)
    assert "expired" in response.json["detail"]


def test_another_tenants_admin_token_is_refused(client, world):
    for path in ["/admin_only_resource", "/protected_resource", "/reports", "/protected_resource/1"]:
        response = client.get(path, headers=bearer(world.tokens["mallory"]))
        assert response.status_code == 401, path
        assert 'error="invalid_token"' in challenge(response)
        assert "another account" in challenge(response)


def test_another_tenants_api_key_is_refused_by_the_pinned_account(client, admin, world):
    key = api_key(admin, world.tokens["mallory"], [world.globex_admin])["key"]
    response = client.get("/reports", headers=bearer(key))  # Globex's `admin` grants reports:read
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)
    assert "another account" in response.json["detail"]


def test_reports_without_a_credential_is_a_bare_challenge(client):
    response = client.get("/reports")
    assert response.status_code == 401
    assert challenge(response) == 'Bearer realm="warden"'
