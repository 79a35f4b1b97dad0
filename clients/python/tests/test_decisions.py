"""``allowed`` and ``aallowed``: errors are typed, never a silent allow."""

from __future__ import annotations

import asyncio

import pytest

from support import Live
from warden_client import CheckError, TokenError, Warden, WardenUnavailableError


def test_an_ended_session_is_refused_by_the_check(live: Live, warden: Warden) -> None:
    login = live.login("carol@acme.io")
    assert warden.allowed(login["access_token"], "documents:read")
    with live.http() as client:
        client.post("/oauth/revoke", data={"token": login["refresh_token"]})
    with pytest.raises(TokenError) as caught:
        warden.allowed(login["access_token"], "documents:read")
    assert caught.value.reason == "rejected"


def test_a_malformed_check_is_a_check_error(warden: Warden, alice: str) -> None:
    with pytest.raises(CheckError) as caught:
        warden.allowed(alice, "documents:read", {"type": "Role", "id": "x"})
    assert caught.value.status == 422


def test_an_unreachable_warden_is_unavailable(alice: str) -> None:
    down = Warden("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(WardenUnavailableError):
        down.allowed(alice, "documents:read")


def test_an_empty_action_is_refused_locally(warden: Warden, alice: str) -> None:
    with pytest.raises(ValueError, match="action"):
        warden.allowed(alice, "")


def test_aallowed_decides_on_an_event_loop(live: Live, alice: str, bob: str) -> None:
    async def main() -> tuple[bool, bool]:
        warden = Warden(live.base)
        try:
            return (
                await warden.aallowed(alice, "documents:edit", {"type": "document", "id": "1"}),
                await warden.aallowed(bob, "documents:edit", {"type": "document", "id": "1"}),
            )
        finally:
            await warden.aclose()

    assert asyncio.run(main()) == (True, False)
