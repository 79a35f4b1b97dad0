"""The decorators on plain ``def handler(request)`` functions (the Functions Framework shape)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from support import Live
from warden_client import Claims, Warden, current_claims


@dataclass
class FakeRequest:
    """What a cloud function receives: headers (any case), query arguments, the peer address."""

    headers: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    remote_addr: str | None = None


def auth(token: str, **args: str) -> FakeRequest:
    return FakeRequest(headers={"authorization": f"Bearer {token}"}, args=dict(args))


def body(answer: Any) -> dict[str, Any]:
    text, _, _ = answer
    return dict(json.loads(text))


def test_a_valid_token_runs_the_handler(live: Live, warden: Warden, alice: str) -> None:
    @warden.jwt_required
    def hello(request: FakeRequest) -> str:
        return f"Hello, {current_claims().sub}!"

    assert hello(auth(alice)) == f"Hello, {live.ids['alice']}!"


def test_the_claims_argument_is_filled_when_declared(live: Live, warden: Warden, bob: str) -> None:
    @warden.roles_required("viewer")
    def hello(request: FakeRequest, claims: Claims | None = None) -> str:
        assert claims is not None
        return claims.sub

    assert hello(auth(bob)) == live.ids["bob"]


def test_refusals_are_json_with_challenges(warden: Warden, alice: str, bob: str) -> None:
    @warden.roles_required("admin")
    def admin_only(request: FakeRequest) -> str:
        return "secret"

    text, status, headers = admin_only(FakeRequest())
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="warden"')
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(text)["detail"] == "this endpoint needs a bearer access token"

    _, status, headers = admin_only(auth("not-a-jwt"))
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

    _, status, headers = admin_only(FakeRequest(headers={"Authorization": "Bearer"}))
    assert status == 401 and 'error="invalid_request"' in headers["WWW-Authenticate"]

    answer = admin_only(auth(bob))
    assert answer[1] == 403 and 'error="insufficient_scope"' in answer[2]["WWW-Authenticate"]
    assert body(answer)["error"] == "insufficient_scope"
    assert admin_only(auth(alice)) == "secret"


def test_a_permission_with_a_resource_built_from_the_request(
    live: Live, warden: Warden, bob: str
) -> None:
    @warden.permission_required(
        "documents:delete",
        resource=lambda request, kwargs: {
            "type": "document",
            "id": request.args["id"],
            "attributes": {"owner_id": request.args["owner"]},
        },
    )
    def delete(request: FakeRequest) -> str:
        return "deleted"

    assert delete(auth(bob, id="1", owner=live.ids["bob"])) == "deleted"
    assert delete(auth(bob, id="1", owner=live.ids["alice"]))[1] == 403


def test_a_guarded_method_finds_its_request_after_self(
    live: Live, warden: Warden, bob: str
) -> None:
    class Service:
        @warden.jwt_required
        def handle(self, request: FakeRequest) -> str:
            return current_claims().sub

    assert Service().handle(auth(bob)) == live.ids["bob"]


def test_allowed_answers_decisions_directly(
    live: Live, warden: Warden, alice: str, bob: str
) -> None:
    document = {"type": "document", "id": "5", "attributes": {"owner_id": live.ids["alice"]}}
    assert warden.allowed(alice, "documents:edit", document)
    assert not warden.allowed(bob, "documents:edit", document)
    assert warden.allowed(alice, "documents:delete", document)
    assert not warden.allowed(bob, "documents:delete", document)
    assert warden.allowed(bob, "documents:read")  # a default resource typed after the action
    locked = {"type": "document", "id": "5", "attributes": {"locked": True}}
    assert not warden.allowed(alice, "documents:edit", locked, {"reason": "test"})
