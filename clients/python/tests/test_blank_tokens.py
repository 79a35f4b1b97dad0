"""An empty, blank or unsendable token is the caller's fault (401), never Warden's (503).

Each case runs against a Warden that cannot be reached, too: a credential that could never be
sent is refused before any request, so the answer cannot depend on the network.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import flask
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from support import Live
from test_cloud_function import FakeRequest
from test_thrift import documents
from warden_client import Claims, TokenError, Warden

BLANK = ["", " ", "   ", "\t", "\n", "\r\n"]
UNSENDABLE = ["a b", "tok\nen", "tok\x00en", "wk_key\r\nX-Injected: 1", "é"]
DOWN = "http://127.0.0.1:9"


@pytest.fixture(params=["live", "down"])
def either(request: pytest.FixtureRequest, live: Live) -> Warden:
    return Warden(live.base if request.param == "live" else DOWN, timeout=0.5)


@pytest.mark.parametrize("token", BLANK + UNSENDABLE)
def test_allowed_refuses_it_as_a_token_error(either: Warden, token: str) -> None:
    with pytest.raises(TokenError) as caught:
        either.allowed(token, "documents:read")
    assert caught.value.reason == "malformed"
    expected = "no token was given" if not token.strip() else "the token is malformed"
    assert str(caught.value) == expected


@pytest.mark.parametrize("token", ["", " \t "])
def test_aallowed_and_verify_refuse_it_too(either: Warden, token: str) -> None:
    async def main() -> str:
        try:
            await either.aallowed(token, "documents:read")
        except TokenError as err:
            return err.reason
        return "allowed"

    assert asyncio.run(main()) == "malformed"
    with pytest.raises(TokenError):
        either.verify(token)


def test_a_non_string_token_is_a_token_error(either: Warden) -> None:
    with pytest.raises(TokenError):
        either.allowed(None, "documents:read")  # type: ignore[arg-type]


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    ", "Bearer \t", "bearer a b"])
def test_flask_and_cloud_function_guards_answer_401_invalid_request(
    either: Warden, header: str
) -> None:
    app = flask.Flask("blank")

    @app.get("/doc")
    @either.permission_required("documents:read")
    def doc() -> Any:
        return {"ok": True}

    answer = app.test_client().get("/doc", headers={"Authorization": header})
    assert answer.status_code == 401
    assert 'error="invalid_request"' in answer.headers["WWW-Authenticate"]

    @either.roles_required("viewer")
    def function(request: FakeRequest) -> str:
        return "ok"

    text, status, _ = function(FakeRequest(headers={"Authorization": header}))
    assert status == 401 and json.loads(text)["error"] == "invalid_request"


def test_the_fastapi_dependency_answers_401(either: Warden) -> None:
    app = FastAPI()
    reader = Depends(either.require_permission("documents:read"))

    @app.get("/doc")
    async def doc(claims: Claims = reader) -> Any:
        return {"ok": True}

    with TestClient(app) as client:
        for header in ("Bearer ", "Bearer    ", "Bearer a b"):
            answer = client.get("/doc", headers={"Authorization": header})
            assert answer.status_code == 401, header


@pytest.mark.parametrize("token", ["", "   ", "\t\n", b"  "])
def test_the_thrift_guard_answers_401(either: Warden, token: Any) -> None:
    @either.thrift_guard(permission="documents:read", exception=documents.AuthError)
    def read(token: str) -> str:
        return "ok"

    with pytest.raises(documents.AuthError) as caught:
        read(token)
    assert caught.value.code == 401


def test_a_thrift_token_that_cannot_be_sent_answers_401(either: Warden) -> None:
    @either.thrift_guard(permission="documents:read", exception=documents.AuthError)
    def read(token: str) -> str:
        return "ok"

    with pytest.raises(documents.AuthError) as caught:
        read("wk_key\r\nX-Injected: 1")
    assert (caught.value.code, caught.value.error) == (401, "invalid_token")
