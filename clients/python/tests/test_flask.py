"""The decorators on Flask views, through Flask's test client."""

from __future__ import annotations

from typing import Any

import flask
import pytest

from support import Live
from warden_client import Claims, Warden, current_claims


@pytest.fixture
def app(live: Live, warden: Warden) -> flask.Flask:
    app = flask.Flask("guarded")

    @app.get("/me")
    @warden.jwt_required
    def me() -> Any:
        claims: Claims = flask.g.warden_claims
        return {"sub": claims.sub, "same": current_claims() is claims}

    @app.get("/called")
    @warden.jwt_required()
    def called() -> Any:
        return {"sub": flask.g.warden_claims.sub}

    @app.get("/admin")
    @warden.jwt_required
    @warden.roles_required("admin")
    def admin() -> Any:
        return {"ok": True}

    @app.get("/both")
    @warden.roles_required("admin", "viewer")
    def both(claims: Claims) -> Any:
        return {"roles": sorted(claims.roles)}

    @app.get("/either")
    @warden.roles_required("admin", "viewer", any_of=True)
    def either() -> Any:
        return {"ok": True}

    @app.put("/documents/<doc_id>")
    @warden.permission_required("documents:edit", resource="document", resource_id="doc_id")
    def edit(doc_id: str) -> Any:
        return {"edited": doc_id}

    @app.delete("/documents/<doc_id>")
    @warden.permission_required(
        "documents:delete",
        resource=lambda request, kwargs: {
            "type": "document",
            "id": kwargs["doc_id"],
            "attributes": {"owner_id": request.args["owner"]},
        },
    )
    def delete(doc_id: str) -> Any:
        return {"deleted": doc_id}

    @app.post("/locked/<doc_id>")
    @warden.permission_required(
        "documents:edit",
        resource=lambda request, kwargs: {
            "type": "document",
            "id": kwargs["doc_id"],
            "attributes": {"locked": True},
        },
    )
    def locked(doc_id: str) -> Any:
        return {"edited": doc_id}

    @app.get("/async")
    @warden.roles_required("viewer")
    async def asynchronous() -> Any:
        return {"sub": current_claims().sub}

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_reaches_the_view_with_its_claims(
    app: flask.Flask, live: Live, alice: str
) -> None:
    client = app.test_client()
    answer = client.get("/me", headers=bearer(alice))
    assert answer.status_code == 200
    assert answer.json == {"sub": live.ids["alice"], "same": True}
    assert client.get("/called", headers=bearer(alice)).json == {"sub": live.ids["alice"]}


def test_no_token_is_a_bare_challenge(app: flask.Flask) -> None:
    answer = app.test_client().get("/me")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="warden"'
    assert answer.mimetype == "application/problem+json"
    assert answer.json is not None and answer.json["status"] == 401 and "error" not in answer.json


def test_another_scheme_counts_as_no_token(app: flask.Flask) -> None:
    answer = app.test_client().get("/me", headers={"Authorization": "Basic YTpi"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="warden"'


def test_a_bad_token_is_invalid_token(app: flask.Flask, alice: str) -> None:
    answer = app.test_client().get("/me", headers=bearer(alice[:-6] + "AAAAAA"))
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="warden", error="invalid_token"')
    assert answer.json is not None and answer.json["error"] == "invalid_token"
    assert answer.json["detail"] == "the token's signature is invalid"


def test_a_missing_role_is_insufficient_scope(app: flask.Flask, bob: str, alice: str) -> None:
    client = app.test_client()
    answer = client.get("/admin", headers=bearer(bob))
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    assert answer.json is not None and answer.json["detail"] == "this needs the role `admin`"
    assert client.get("/admin", headers=bearer(alice)).status_code == 200


def test_several_roles_need_all_unless_any_of(app: flask.Flask, alice: str, bob: str) -> None:
    client = app.test_client()
    assert client.get("/both", headers=bearer(alice)).json == {
        "roles": ["admin", "editor", "viewer"]
    }
    assert client.get("/both", headers=bearer(bob)).status_code == 403
    assert client.get("/either", headers=bearer(bob)).status_code == 200


def test_a_permission_is_decided_by_warden_with_the_resource_from_the_url(
    app: flask.Flask, alice: str, bob: str
) -> None:
    client = app.test_client()
    assert client.put("/documents/42", headers=bearer(alice)).json == {"edited": "42"}
    denied = client.put("/documents/42", headers=bearer(bob))
    assert denied.status_code == 403
    assert (
        denied.json is not None
        and denied.json["detail"] == "this needs the permission `documents:edit`"
    )


def test_the_owner_rule_reads_attributes_built_from_the_request(
    app: flask.Flask, live: Live, bob: str
) -> None:
    client = app.test_client()
    own = client.delete(f"/documents/7?owner={live.ids['bob']}", headers=bearer(bob))
    assert own.status_code == 200
    theirs = client.delete(f"/documents/7?owner={live.ids['alice']}", headers=bearer(bob))
    assert theirs.status_code == 403


def test_a_forbid_policy_overrides_the_role(app: flask.Flask, alice: str) -> None:
    assert app.test_client().post("/locked/9", headers=bearer(alice)).status_code == 403


def test_async_views_are_guarded(app: flask.Flask, live: Live, bob: str) -> None:
    client = app.test_client()
    assert client.get("/async", headers=bearer(bob)).json == {"sub": live.ids["bob"]}
    assert client.get("/async").status_code == 401


def test_warden_unreachable_is_503_not_a_pass(live: Live, alice: str) -> None:
    warden = Warden("http://127.0.0.1:9", timeout=0.5)
    app = flask.Flask("down")

    @app.get("/")
    @warden.jwt_required
    def index() -> Any:
        return {"ok": True}

    answer = app.test_client().get("/", headers=bearer(alice))
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["error"] == "temporarily_unavailable"


def test_claims_do_not_leak_out_of_the_request(app: flask.Flask, alice: str) -> None:
    app.test_client().get("/me", headers=bearer(alice))
    with pytest.raises(LookupError):
        current_claims()
