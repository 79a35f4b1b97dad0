"""The AuthZEN example against a live Warden: the conformance fixture loads through the REST
API, the eight fixed decisions and the searches hold, and the gateway PEP in front of the
unmodified records API lets through exactly what Warden allows."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient

from _testkit.api import login
from _testkit.attacks import bad_tokens

sys.path.insert(0, str(Path(__file__).parent))
import fixture  # noqa: E402
import gateway  # noqa: E402

from warden_client.authzen import PDP  # noqa: E402


@pytest.fixture(scope="module")
def world(warden, admin):
    loaded = fixture.load(warden.base, admin.token)
    pdp = PDP(warden.base, client_id=loaded["client_id"], client_secret=loaded["client_secret"])
    yield SimpleNamespace(pdp=pdp, **loaded)
    pdp.close()


def user(name, **properties):
    return {"type": "user", "id": name, **({"properties": properties} if properties else {})}


def record(rid, **properties):
    return {"type": "record", "id": rid, **({"properties": properties} if properties else {})}


def test_the_eight_fixture_decisions(world):
    pdp = world.pdp
    assert pdp.evaluate(user("alice"), {"name": "read"}, record("record-1"))
    assert pdp.evaluate(user("alice"), {"name": "write"}, record("record-1"))
    assert pdp.evaluate(user("bob"), {"name": "read"}, record("record-1"))
    assert not pdp.evaluate(user("bob"), {"name": "write"}, record("record-1"))
    assert not pdp.evaluate(user("alice"), {"name": "write"}, record("record-2", status="archived"))
    assert pdp.evaluate(user("bob", role="admin"), {"name": "write"}, record("record-2", status="archived"))
    assert pdp.evaluate(user("alice"), {"name": "delete", "properties": {"soft": True}}, record("record-1"))
    assert not pdp.evaluate(user("alice"), {"name": "delete", "properties": {"soft": False}}, record("record-1"))


def test_searches(world):
    pdp = world.pdp
    readers = {s["id"] for s in pdp.search_subjects("user", {"name": "read"}, record("record-1"))}
    assert readers == {"alice", "bob"}
    records = [r["id"] for r in pdp.search_resources(user("alice"), {"name": "write"}, "record")]
    assert records == ["record-1"]
    assert set(pdp.search_actions(user("alice"), record("record-1"))) == {"read", "write"}


def test_the_metadata_names_warden(warden):
    meta = httpx.get(warden.base + "/.well-known/authzen-configuration").json()
    assert meta["policy_decision_point"] == warden.base
    assert meta["search_action_endpoint"] == warden.base + "/access/v1/search/action"


@pytest.fixture(scope="module")
def through(warden, world):
    app = gateway.gateway(warden.base, world.client_id, world.client_secret, gateway.upstream())
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(warden, world):
    return {name: login(warden.base, name, fixture.PASSWORD) for name in ("alice", "bob")}


def call(client, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, headers=headers, **kwargs)


def test_the_gateway_forwards_only_what_warden_allows(through, tokens):
    alice, bob = tokens["alice"], tokens["bob"]
    assert call(through, "GET", "/records/record-1", alice).status_code == 200
    assert call(through, "PUT", "/records/record-1", alice, json={"title": "x"}).json()["title"] == "x"
    assert call(through, "PUT", "/records/record-1", bob, json={"title": "y"}).status_code == 403
    # record-2 is archived in Warden's registry: the gateway never sends its status.
    assert call(through, "PUT", "/records/record-2", alice, json={}).status_code == 403
    assert call(through, "PUT", "/records/record-2", bob, json={}).status_code == 200
    assert call(through, "DELETE", "/records/record-1", alice).status_code == 403
    assert call(through, "DELETE", "/records/record-1?soft=true", alice).status_code == 204
    assert call(through, "GET", "/records/record-1", bob).status_code == 200


def test_the_gateway_refuses_bad_tokens(through, tokens, jwks):
    response = call(through, "GET", "/records/record-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    for name, token in bad_tokens(tokens["bob"], jwks, roles=["record-editor"]).items():
        assert call(through, "GET", "/records/record-1", token).status_code == 401, name
