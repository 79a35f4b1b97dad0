"""The FastAPI dependencies, through FastAPI's TestClient.

No ``from __future__ import annotations`` here: FastAPI reads the ``Annotated`` aliases defined
inside the fixture at run time, and string annotations could not name those locals.
"""

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from support import Live
from warden_client import Claims, Warden, current_claims


@pytest.fixture
def client(live: Live, warden: Warden) -> Iterator[TestClient]:
    app = FastAPI()
    authenticated = Annotated[Claims, Depends(warden.claims())]
    viewer = Annotated[Claims, Depends(warden.require_role("viewer"))]
    editor = Annotated[
        Claims,
        Depends(warden.require_permission("documents:edit", "document", resource_id="doc_id")),
    ]

    async def owned(request: Request) -> dict[str, Any]:
        return {
            "type": "document",
            "id": request.path_params["doc_id"],
            "attributes": {"owner_id": request.query_params["owner"]},
        }

    owner = Annotated[Claims, Depends(warden.require_permission("documents:delete", owned))]

    @app.get("/me")
    async def me(claims: authenticated) -> dict[str, Any]:
        return {"sub": claims.sub, "current": current_claims().sub}

    @app.get("/admin", dependencies=[Depends(warden.require_role("admin"))])
    async def admin() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/sync")
    def sync_view(claims: viewer) -> dict[str, Any]:
        return {"roles": sorted(claims.roles)}

    @app.put("/documents/{doc_id}")
    async def edit(doc_id: str, claims: editor) -> dict[str, Any]:
        return {"edited": doc_id, "by": claims.sub}

    @app.delete("/documents/{doc_id}")
    async def delete(doc_id: str, claims: owner) -> dict[str, Any]:
        return {"deleted": doc_id}

    @app.get("/state")
    async def state(request: Request, claims: authenticated) -> dict[str, Any]:
        return {"sub": request.state.warden_claims.sub}

    with TestClient(app) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_claims_dependency_answers_the_claims(client: TestClient, live: Live, alice: str) -> None:
    sub = live.ids["alice"]
    assert client.get("/me", headers=bearer(alice)).json() == {"sub": sub, "current": sub}
    assert client.get("/state", headers=bearer(alice)).json() == {"sub": sub}


def test_no_token_and_a_bad_token_are_401_with_challenges(client: TestClient, alice: str) -> None:
    answer = client.get("/me")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="warden"'
    bad = client.get("/me", headers=bearer(alice + "x"))
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith(
        'Bearer realm="warden", error="invalid_token"'
    )
    assert bad.json()["detail"] == "the token is malformed"


def test_require_role(client: TestClient, alice: str, bob: str) -> None:
    assert client.get("/admin", headers=bearer(alice)).json() == {"ok": True}
    denied = client.get("/admin", headers=bearer(bob))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert denied.json() == {"detail": "this needs the role `admin`"}
    assert client.get("/sync", headers=bearer(bob)).json() == {"roles": ["viewer"]}


def test_require_permission_with_a_path_parameter(client: TestClient, alice: str, bob: str) -> None:
    assert client.put("/documents/3", headers=bearer(alice)).json()["edited"] == "3"
    denied = client.put("/documents/3", headers=bearer(bob))
    assert denied.status_code == 403
    assert denied.json() == {"detail": "this needs the permission `documents:edit`"}


def test_require_permission_with_an_async_resource_function(
    client: TestClient, live: Live, bob: str
) -> None:
    own = client.delete(f"/documents/8?owner={live.ids['bob']}", headers=bearer(bob))
    assert own.status_code == 200
    theirs = client.delete(f"/documents/8?owner={live.ids['alice']}", headers=bearer(bob))
    assert theirs.status_code == 403


def test_the_openapi_document_declares_the_bearer_scheme(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["warden"]
    assert (
        scheme["type"] == "http"
        and scheme["scheme"] == "bearer"
        and scheme["bearerFormat"] == "JWT"
    )
    assert document["paths"]["/me"]["get"]["security"] == [{"warden": []}]
    assert document["paths"]["/admin"]["get"]["security"] == [{"warden": []}]


def test_an_unreachable_warden_is_503(alice: str) -> None:
    down = Warden("http://127.0.0.1:9", timeout=0.5)
    app = FastAPI()

    @app.get("/")
    async def index(claims: Annotated[Claims, Depends(down.claims())]) -> dict[str, Any]:
        return {}

    with TestClient(app) as test_client:
        assert test_client.get("/", headers=bearer(alice)).status_code == 503
