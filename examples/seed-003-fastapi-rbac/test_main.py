"""Seed 003 against a live Warden and PostgreSQL: the service keeps only subscriptions in its
own (fresh) schema and asks Warden everything else; the seed's flaws (any user assigning
roles, creating accounts, moving users between accounts) are shown closed."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from _testkit.api import expect
from _testkit.attacks import bad_tokens

HERE = Path(__file__).parent
POSTGRES = os.environ.get("EXAMPLES_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def database():
    """A fresh schema for this run; the app's connections use it through `search_path`."""
    schema = f"seed003_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield SimpleNamespace(schema=schema, url=f"{POSTGRES}?options=-csearch_path%3D{schema}")
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module")
def world(warden, admin):
    builtin = {role["name"]: role["id"] for role in expect(admin.get("/v1/roles"), 200)["items"]}
    admin.policy((HERE / "tenant-fence.cedar").read_text(), None, "tenant fence")
    world = SimpleNamespace(builtin=builtin, accounts={}, roles={}, people={})
    for tenant in ("acme", "globex"):
        account = world.accounts[tenant] = admin.account()
        viewer = admin.role("viewer", account, ["subscriptions:read"])
        billing = admin.role("billing", account, ["subscriptions:update"], inherits=["viewer"])
        world.roles[tenant] = {"viewer": viewer, "billing": billing}
        owner = world.people[f"{tenant}_owner"] = admin.user(account)
        admin.grant(owner.id, builtin["account_admin"], account)
        admin.grant(owner.id, billing, account)
    acme = world.accounts["acme"]
    world.people["member"] = admin.user(acme)
    admin.grant(world.people["member"].id, world.roles["acme"]["viewer"], acme)
    world.people["newbie"] = admin.user(acme)  # no role at all
    world.tokens = {name: person.token(warden.base) for name, person in world.people.items()}
    return world


@pytest.fixture(scope="module")
def client(warden, world, database):
    os.environ.update(WARDEN_URL=warden.base, DATABASE_URL=database.url)
    sys.path.insert(0, str(HERE))
    with TestClient(importlib.import_module("main").app) as client:
        yield client


def call(client, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, headers=headers, **kwargs)


def subscription_path(world, tenant="acme"):
    return f"/accounts/{world.accounts[tenant]}/subscription"


# -- the service ----------------------------------------------------------------------------


def test_a_viewer_reads_the_subscription_but_may_not_change_it(client, world):
    path = subscription_path(world)
    assert call(client, "GET", path, world.tokens["member"]).json() == {"plan": "free", "ends_on": None}
    refused = call(client, "PUT", path, world.tokens["member"], json={"plan": "enterprise"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert refused.json() == {"detail": "this needs the permission `subscriptions:update`"}


def test_billing_changes_it_and_postgres_holds_only_domain_data(client, world, database):
    path, owner = subscription_path(world), world.people["acme_owner"]
    body = {"plan": "team", "ends_on": "2027-01-31"}
    assert call(client, "PUT", path, world.tokens["acme_owner"], json=body).json() == body
    assert call(client, "GET", path, world.tokens["member"]).json() == body
    with psycopg.connect(database.url) as connection:
        row = connection.execute("SELECT plan, updated_by FROM subscriptions WHERE account_id = %s",
                                 (world.accounts["acme"],)).fetchone()
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            (database.schema,)).fetchall()
    assert row == ("team", owner.id)
    assert {table for table, _ in columns} == {"subscriptions"}
    assert {column for _, column in columns} == {"account_id", "plan", "ends_on", "updated_by", "updated_at"}


def test_another_tenant_cannot_read_or_change_acmes_subscription(client, world):
    path = subscription_path(world)
    for method, body in (("GET", None), ("PUT", {"plan": "free"})):
        refused = call(client, method, path, world.tokens["globex_owner"], json=body)
        assert refused.status_code == 403, method  # Globex's billing role, fenced off Acme's data
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    own = call(client, "PUT", subscription_path(world, "globex"), world.tokens["globex_owner"],
               json={"plan": "enterprise"})
    assert own.status_code == 200
    assert call(client, "GET", path, world.tokens["member"]).json()["plan"] != "enterprise"


def test_no_mass_assignment_in_the_service_either(client, world):
    body = {"plan": "team", "account_id": world.accounts["globex"]}
    assert call(client, "PUT", subscription_path(world), world.tokens["acme_owner"], json=body).status_code == 422


def test_account_users_come_from_warden_as_the_caller_may_see_them(client, world):
    path = f"/accounts/{world.accounts['acme']}/users"
    listed = call(client, "GET", path, world.tokens["acme_owner"])
    assert listed.status_code == 200
    emails = {user["email"] for user in listed.json()}
    assert {world.people[name].email for name in ("acme_owner", "member", "newbie")} <= emails
    assert world.people["globex_owner"].email not in emails
    assert call(client, "GET", path, world.tokens["member"]).status_code == 403  # no warden.users:read
    assert call(client, "GET", path, world.tokens["globex_owner"]).status_code == 404  # not their account


def test_no_token_is_a_bare_challenge(client, world):
    refused = call(client, "GET", subscription_path(world))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="warden"'


@pytest.mark.parametrize("kind", ["forged", "tampered", "unsigned", "hmac-confused", "garbage"])
def test_bad_tokens_are_401(client, world, jwks, kind):
    token = bad_tokens(world.tokens["member"], jwks, roles=["billing"])[kind]
    for method in ("GET", "PUT"):
        refused = call(client, method, subscription_path(world), token, json={"plan": "enterprise"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(client, world, after_expiry):
    refused = call(client, "PUT", subscription_path(world), world.tokens["acme_owner"], json={"plan": "free"})
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "expired" in refused.json()["detail"]


# -- the seed's flaws, closed: each was one unauthenticated-enough request in the seed -------


def test_flaw_any_user_assigning_roles(admin, world):
    """Seed: `POST /user-roles` took any logged-in user; `PUT /user-roles/{id}` let an account
    admin change users of any account."""
    people, tokens, acme = world.people, world.tokens, world.accounts["acme"]
    grant = {"role_id": world.roles["acme"]["billing"], "account_id": acme}
    as_member, as_owner = admin.as_(tokens["member"]), admin.as_(tokens["acme_owner"])

    refused = as_member.post(f"/v1/users/{people['member'].id}/roles", grant)
    assert refused.status_code == 403
    assert "warden.assignments:create" in refused.json()["detail"]
    assert as_member.post(f"/v1/users/{people['newbie'].id}/roles", grant).status_code == 403
    refused = as_owner.post(f"/v1/users/{people['acme_owner'].id}/roles",
                            {"role_id": world.builtin["super_admin"], "account_id": None})
    assert refused.status_code == 403  # no global grants, and never to oneself
    refused = as_owner.post(f"/v1/users/{people['acme_owner'].id}/roles", grant)
    assert refused.json()["detail"] == "you cannot assign roles to yourself"
    refused = as_owner.post("/v1/roles", {"name": "sneaky", "account_id": acme, "permissions": ["*"]})
    assert refused.status_code == 403  # no role carrying permissions the caller lacks
    foreign = admin.as_(tokens["globex_owner"]).post(f"/v1/users/{people['newbie'].id}/roles", grant)
    assert foreign.status_code == 404  # another tenant's admin does not even see the user


def test_an_account_admin_grants_what_they_hold_and_it_applies_at_once(client, admin, world):
    newbie = world.people["newbie"]
    path = subscription_path(world)
    assert call(client, "PUT", path, world.tokens["newbie"], json={"plan": "team"}).status_code == 403
    grant = {"role_id": world.roles["acme"]["billing"], "account_id": world.accounts["acme"]}
    expect(admin.as_(world.tokens["acme_owner"]).post(f"/v1/users/{newbie.id}/roles", grant), 201)
    assert call(client, "PUT", path, world.tokens["newbie"], json={"plan": "team"}).status_code == 200
    expect(admin.as_(world.tokens["acme_owner"]).delete(
        f"/v1/users/{newbie.id}/roles/{grant['role_id']}", account_id=world.accounts["acme"]), 204)
    assert call(client, "PUT", path, world.tokens["newbie"], json={"plan": "free"}).status_code == 403


def test_flaw_any_user_creating_accounts(admin, warden, world):
    """Seed: `POST /accounts` needed only a login (and `POST /users/open` an on/off setting)."""
    for who in ("member", "acme_owner"):
        refused = admin.as_(world.tokens[who]).post("/v1/accounts", {"name": f"mine-{who.replace('_', '-')}"})
        assert refused.status_code == 403, who
        assert "warden.accounts:create" in refused.json()["detail"]
    registration = httpx.post(warden.base + "/v1/register",
                              json={"email": "walk-in@example.test", "password": "a long walk-in passphrase"})
    assert registration.status_code == 403  # open registration is off unless configured
    assert registration.json()["detail"] == "registration is disabled on this server"


def test_flaw_moving_users_between_accounts(admin, world):
    """Seed: `POST /accounts/{id}/users` let any logged-in user move any user into any account."""
    people, acme, globex = world.people, world.accounts["acme"], world.accounts["globex"]
    as_acme, as_globex = admin.as_(world.tokens["acme_owner"]), admin.as_(world.tokens["globex_owner"])
    assert as_acme.post(f"/v1/accounts/{globex}/members", {"user_id": people["member"].id}).status_code == 404
    assert as_globex.post(f"/v1/accounts/{globex}/members", {"user_id": people["member"].id}).status_code == 404
    assert as_acme.post(f"/v1/accounts/{acme}/members", {"user_id": people["globex_owner"].id}).status_code == 404
    assert as_acme.delete(f"/v1/accounts/{globex}/members/{people['globex_owner'].id}").status_code == 404
    refused = admin.as_(world.tokens["member"]).post(f"/v1/accounts/{acme}/members", {"user_id": people["newbie"].id})
    assert refused.status_code == 403
    for who, path in (("member", "/v1/users/me"), ("acme_owner", f"/v1/users/{people['member'].id}")):
        moved = admin.as_(world.tokens[who]).patch(path, {"account_id": globex})
        assert moved.status_code == 422, who  # no mass assignment: users carry no account field
        assert "unknown field `account_id`" in moved.json()["detail"]
    members = expect(admin.get(f"/v1/accounts/{globex}/members"), 200)["items"]
    assert people["member"].id not in {member["user_id"] for member in members}
