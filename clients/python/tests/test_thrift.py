"""The Thrift guard, with a thriftpy2 server and client in this process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import thriftpy2
from thriftpy2.rpc import make_client, make_server

from support import Live, free_port
from warden_client import Claims, Warden, current_claims, thrift_headers

documents = thriftpy2.load(
    str(Path(__file__).parent / "thrift" / "documents.thrift"), module_name="documents_thrift"
)


def handler(warden: Warden) -> Any:
    class Handler:
        @warden.thrift_guard(exception=documents.AuthError)
        def whoami(self, token: str, claims: Claims | None = None) -> str:
            assert claims is not None and current_claims() is claims
            return claims.sub

        @warden.thrift_guard(role="admin", exception=documents.AuthError)
        def report(self, token: str) -> str:
            return "numbers"

        @warden.thrift_guard(
            permission="documents:edit", resource="document", exception=documents.AuthError
        )
        def edit(self, token: str, id: str) -> str:
            return f"edited {id}"

        @warden.thrift_guard(
            permission="documents:delete",
            resource=lambda args: {
                "type": "document",
                "id": args["id"],
                "attributes": {"owner_id": args["owner_id"]},
            },
            exception=documents.AuthError,
        )
        def remove(self, token: str, id: str, owner_id: str) -> bool:
            return True

    return Handler()


@pytest.fixture
def client(warden: Warden) -> Iterator[Any]:
    port = free_port()
    server = make_server(
        documents.Documents, handler(warden), "127.0.0.1", port, client_timeout=5000
    )
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:  # serve() binds in its thread: wait until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    client = make_client(documents.Documents, "127.0.0.1", port, timeout=10000)
    try:
        yield client
    finally:
        client.close()
        server.close()


def refusal(call: Any, *args: Any) -> Any:
    with pytest.raises(documents.AuthError) as caught:
        call(*args)
    return caught.value


def test_a_valid_token_argument_reaches_the_method(client: Any, live: Live, alice: str) -> None:
    assert client.whoami(alice) == live.ids["alice"]
    assert client.whoami(f"Bearer {alice}") == live.ids["alice"]


def test_a_missing_or_bad_token_raises_the_idls_exception_with_401(client: Any, alice: str) -> None:
    missing = refusal(client.whoami, "")
    assert (missing.code, missing.error) == (401, "unauthorized")
    bad = refusal(client.whoami, alice[:-4] + "AAAA")
    assert (bad.code, bad.error, bad.message) == (
        401,
        "invalid_token",
        "the token's signature is invalid",
    )


def test_a_missing_role_raises_403(client: Any, alice: str, bob: str) -> None:
    assert client.report(alice) == "numbers"
    denied = refusal(client.report, bob)
    assert (denied.code, denied.error, denied.message) == (
        403,
        "insufficient_scope",
        "this needs the role `admin`",
    )


def test_a_permission_with_the_resource_from_the_arguments(
    client: Any, live: Live, alice: str, bob: str
) -> None:
    assert client.edit(alice, "12") == "edited 12"
    assert refusal(client.edit, bob, "12").code == 403
    assert client.remove(bob, "3", live.ids["bob"]) is True
    assert refusal(client.remove, bob, "3", live.ids["alice"]).code == 403


def test_the_token_can_come_from_transport_headers(live: Live, warden: Warden, bob: str) -> None:
    service = handler(warden)
    with thrift_headers({"Authorization": f"Bearer {bob}"}):
        assert service.whoami("") == live.ids["bob"]
    with pytest.raises(documents.AuthError):
        service.whoami("")


def test_a_factory_or_a_plain_exception_class_works_too(warden: Warden, bob: str) -> None:
    class PlainError(Exception):
        pass

    @warden.thrift_guard(role="admin", exception=PlainError)
    def plain(token: str) -> str:
        return "no"

    @warden.thrift_guard(
        role="admin", exception=lambda status, error, message: KeyError(status, error)
    )
    def factory(token: str) -> str:
        return "no"

    with pytest.raises(PlainError, match="this needs the role `admin`"):
        plain(bob)
    with pytest.raises(KeyError) as caught:
        factory(bob)
    assert caught.value.args == (403, "insufficient_scope")
