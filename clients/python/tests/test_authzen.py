"""The AuthZEN client against the live Warden: a gateway client asks with its client
credentials; decisions, batches, searches over the registry, and failures that fail closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import Live
from warden_client import CheckError, TokenError
from warden_client.authzen import PDP


@pytest.fixture(scope="module")
def pdp(live: Live) -> Iterator[PDP]:
    acme = live.ids["acme"]
    checker = live.admin(
        "POST",
        "/v1/roles",
        {"name": "pdp-caller", "account_id": acme, "permissions": ["warden.check:any"]},
    )["id"]
    created = live.admin(
        "POST", "/v1/clients", {"name": "gateway", "account_id": acme, "roles": [checker]}
    )
    for doc in ("d1", "d2"):
        live.admin(
            "PUT",
            f"/v1/resources/document/{doc}",
            {"account_id": acme, "attributes": {"status": "draft"}},
        )
    with PDP(
        live.base, client_id=created["client_id"], client_secret=created["client_secret"]
    ) as client:
        yield client


def user(email: str) -> dict[str, str]:
    return {"type": "user", "id": email}


DOC = {"type": "document", "id": "d1"}


def test_evaluations_answer_as_roles_and_policies_do(pdp: PDP) -> None:
    assert pdp.evaluate(user("bob@acme.io"), {"name": "documents:read"}, DOC)
    assert not pdp.evaluate(user("bob@acme.io"), {"name": "documents:edit"}, DOC)
    # The action name on its resource type counts as `documents:…` only for a `documents`
    # resource; on a `document` it is a free name nobody holds.
    assert not pdp.evaluate(user("bob@acme.io"), {"name": "read"}, DOC)
    assert not pdp.evaluate(user("nobody@acme.io"), {"name": "documents:read"}, DOC)
    got = pdp.evaluations(
        [
            {"resource": DOC},
            {"resource": {"type": "document", "id": "d2"}},
            {"action": {"name": "documents:edit"}},
        ],
        subject=user("alice@acme.io"),
        action={"name": "documents:read"},
        resource=DOC,
    )
    assert got == [True, True, True]
    first_deny = pdp.evaluations(
        [{"action": {"name": "documents:edit"}}, {"action": {"name": "documents:read"}}],
        subject=user("bob@acme.io"),
        resource=DOC,
        semantic="deny_on_first_deny",
    )
    assert first_deny == [False]


def test_searches_follow_every_page(live: Live, pdp: PDP) -> None:
    # Users without a username or external id are named by their Warden id.
    readers = [
        s["id"] for s in pdp.search_subjects("user", {"name": "documents:read"}, DOC, page_size=1)
    ]
    assert sorted(readers) == sorted(live.ids[name] for name in ("alice", "bob", "carol"))
    docs = [
        r["id"]
        for r in pdp.search_resources(user("bob@acme.io"), {"name": "documents:read"}, "document")
    ]
    assert docs == ["d1", "d2"]
    actions = set(pdp.search_actions(user("alice@acme.io"), {"type": "documents", "id": "d1"}))
    assert {"read", "edit"} <= actions


def test_failures_are_errors_not_permits(live: Live, pdp: PDP) -> None:
    with pytest.raises(CheckError):
        pdp.evaluate({"type": "user"}, {"name": "documents:read"}, DOC)
    stranger = PDP(live.base, client_id="gateway-that-does-not-exist", client_secret="x")
    with stranger, pytest.raises(TokenError):
        stranger.evaluate(user("bob@acme.io"), {"name": "documents:read"}, DOC)
    with pytest.raises(ValueError, match="either token"):
        PDP(live.base)
