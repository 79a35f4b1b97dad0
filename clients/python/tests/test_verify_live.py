"""Verification of real Warden tokens: valid, expired, tampered, wrong audience, revoked
sessions, rotated keys of every algorithm, and the key cache under a storm and an outage."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support import AsyncCounting, Counting, Live, b64, forge, new_key, segments
from warden_client import TokenError, Warden, WardenUnavailableError


def reason(warden: Warden, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        warden.verify(token)
    return caught.value.reason


def test_a_valid_token_verifies_with_its_claims(live: Live, warden: Warden, alice: str) -> None:
    header, _, _ = segments(alice)
    claims = warden.verify(alice)
    assert header["typ"] == "at+jwt" and header["alg"] in ("ES256", "EdDSA", "RS256")
    assert claims.sub == live.ids["alice"] and claims.iss == live.base
    assert claims.aud == ("warden",) and claims.account_id == live.ids["acme"]
    assert set(claims.roles) == {"admin", "editor", "viewer"}
    assert claims.sid and claims.jti and claims.client_id == "warden"
    assert claims.exp > time.time() and claims.iat is not None and claims.nbf is not None
    assert claims["acct"] == live.ids["acme"]


def test_a_narrowed_token_carries_its_scope(live: Live, warden: Warden) -> None:
    claims = warden.verify(live.token("alice@acme.io", scope="viewer"))
    assert claims.scope == ("viewer",) and claims.roles == ("viewer",)


def test_verification_is_offline_after_the_first_fetch(live: Live, alice: str, bob: str) -> None:
    counting = Counting()
    warden = Warden(live.base, http_client=httpx.Client(transport=counting))
    for token in (alice, bob, alice):
        warden.verify(token)
    assert counting.jwks == 1


def test_an_expired_token_is_refused(live: Live, alice: str) -> None:
    exp = segments(alice)[1]["exp"]
    assert reason(Warden(live.base, clock=lambda: exp + 31), alice) == "expired"
    assert Warden(live.base, clock=lambda: exp + 29).verify(alice).sub  # within the leeway
    assert reason(Warden(live.base, leeway=0, clock=lambda: exp + 1), alice) == "expired"


def test_a_tampered_token_is_refused(live: Live, warden: Warden, alice: str) -> None:
    head, body, signature = alice.split(".")
    payload = segments(alice)[1] | {"roles": ["super_admin"]}
    forged_body = b64(json.dumps(payload).encode())
    assert reason(warden, f"{head}.{forged_body}.{signature}") == "signature"
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert reason(warden, f"{head}.{body}.{flipped}") == "signature"


def test_a_token_forged_with_a_local_key_under_wardens_kid_is_refused(
    live: Live, warden: Warden, alice: str
) -> None:
    header, payload, _ = segments(alice)
    expired = payload | {"exp": int(time.time()) - 3600}
    token = forge(new_key(header["alg"]), header["alg"], expired, kid=header["kid"])
    assert reason(warden, token) == "signature"
    assert reason(warden, forge(new_key("ES256"), "ES256", payload, kid="local")) == "unknown_key"


def test_a_token_for_another_audience_or_issuer_is_refused(live: Live, alice: str) -> None:
    assert reason(Warden(live.base, audience="billing"), alice) == "claims"
    assert Warden(live.base).verify(alice).sub  # no audience given: not checked
    # Metadata fetched under another name names another issuer: its keys are not used.
    other = Warden(live.base.replace("127.0.0.1", "localhost"), timeout=2)
    with pytest.raises(WardenUnavailableError):
        other.verify(alice)


def test_averify_verifies_on_an_event_loop(live: Live, alice: str) -> None:
    async def main() -> str:
        warden = Warden(live.base, audience="warden")
        claims = await warden.averify(alice)
        await warden.aclose()
        return claims.sub

    assert asyncio.run(main()) == live.ids["alice"]


def test_a_revoked_session_is_refused_offline(live: Live) -> None:
    login = live.login("carol@acme.io")
    token, other = login["access_token"], live.token("bob@acme.io")
    warden = Warden(
        live.base,
        audience="warden",
        follow_revocations=True,
        client_id=live.client_id,
        client_secret=live.client_secret,
        revocation_interval=0.2,
    )
    try:
        assert warden.verify(token).sub == live.ids["carol"]
        with live.http() as client:
            answer = client.post("/oauth/revoke", data={"token": login["refresh_token"]})
        assert answer.status_code == 200
        deadline = time.monotonic() + 15
        refused: str | None = None
        while refused is None and time.monotonic() < deadline:
            try:
                warden.verify(token)
                time.sleep(0.1)
            except TokenError as err:
                refused = err.reason
        assert refused == "revoked", "the ended session's token was still accepted after 15 s"
        assert warden.verify(other).sub == live.ids["bob"]
        # Without the feed the signature alone still passes: the feed made the difference.
        assert Warden(live.base).verify(token).sub == live.ids["carol"]
    finally:
        warden.close()


def test_follow_revocations_needs_client_credentials(live: Live) -> None:
    with pytest.raises(ValueError, match="client_id"):
        Warden(live.base, follow_revocations=True)


def test_a_revocation_feed_with_bad_credentials_does_not_block_verification(
    live: Live, alice: str
) -> None:
    warden = Warden(
        live.base, follow_revocations=True, client_id="nobody", client_secret="wrong", timeout=2
    )
    try:
        assert warden.verify(alice).sub == live.ids["alice"]
    finally:
        warden.close()


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA", "ES256"])
def test_tokens_of_rotated_keys_verify(live: Live, alice: str, algorithm: str) -> None:
    counting = Counting()
    warden = Warden(live.base, refresh_cooldown=0.2, http_client=httpx.Client(transport=counting))
    assert warden.verify(alice).sub == live.ids["alice"]
    rotated = live.admin("POST", "/v1/keys/rotate", {"algorithm": algorithm})
    assert rotated["alg"] == algorithm
    time.sleep(0.25)
    fresh = live.token("alice@acme.io")
    header, _, _ = segments(fresh)
    assert (header["kid"], header["alg"]) == (rotated["kid"], algorithm)
    assert warden.verify(fresh).sub == live.ids["alice"]  # unknown kid: one refresh
    assert warden.verify(alice).sub == live.ids["alice"]  # the old key is still published
    assert counting.jwks == 2


def storm(warden: Warden, tokens: list[str]) -> list[str]:
    """Verifies half the tokens from 8 threads and half as tasks on an event loop, at once."""
    refused: list[str] = []
    lock = threading.Lock()

    def one(token: str) -> None:
        try:
            warden.verify(token)
        except TokenError as err:
            with lock:
                refused.append(err.reason)

    async def many() -> None:
        async def attempt(token: str) -> None:
            try:
                await warden.averify(token)
            except TokenError as err:
                with lock:
                    refused.append(err.reason)

        await asyncio.gather(*(attempt(t) for t in tokens[len(tokens) // 2 :]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        loop_thread = threading.Thread(target=lambda: asyncio.run(many()))
        loop_thread.start()
        list(pool.map(one, tokens[: len(tokens) // 2]))
        loop_thread.join()
    return refused


def test_random_kids_cause_at_most_one_refresh_per_cooldown(live: Live, alice: str) -> None:
    counting = Counting()
    warden = Warden(
        live.base,
        refresh_cooldown=1.0,
        http_client=httpx.Client(transport=counting),
        async_http_client=httpx.AsyncClient(transport=AsyncCounting(counting)),
    )
    _, payload, _ = segments(alice)
    key = new_key("ES256")

    def random_kids() -> list[str]:
        return [forge(key, "ES256", payload, kid=secrets.token_hex(8)) for _ in range(300)]

    # Cold: every caller waits for the one fetch that loads the keys.
    assert storm(warden, random_kids()) == ["unknown_key"] * 300
    assert counting.jwks == 1
    # Within the cooldown: no fetch at all.
    assert storm(warden, random_kids()) == ["unknown_key"] * 300
    assert counting.jwks == 1
    # Past it: one refresh for the whole burst, threads and tasks alike.
    time.sleep(1.05)
    assert storm(warden, random_kids()) == ["unknown_key"] * 300
    assert counting.jwks == 2, f"{counting.jwks} JWKS fetches for 900 random kids"
    assert warden.verify(alice).sub  # and the real key still serves


def test_a_jwks_outage_after_warm_up_keeps_serving(live: Live, alice: str, bob: str) -> None:
    counting = Counting()
    warden = Warden(live.base, refresh_cooldown=0.1, http_client=httpx.Client(transport=counting))
    assert warden.verify(alice).sub
    counting.down = True
    time.sleep(0.15)  # Warden's JWKS max-age is 0 here: the set is stale, refreshes fail
    for _ in range(50):
        assert warden.verify(alice).sub == live.ids["alice"]
        assert warden.verify(bob).sub == live.ids["bob"]
    assert 2 <= counting.jwks <= 3  # one failed refresh, maybe two: never one per request
    counting.down = False
    time.sleep(0.15)
    assert warden.verify(alice).sub


def test_an_unreachable_issuer_after_warm_up_keeps_serving(live: Live, alice: str) -> None:
    redirect = {"to": live.base}

    def route(request: httpx.Request) -> httpx.Response:
        if redirect["to"] is None:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.get(str(request.url), timeout=5)

    warden = Warden(
        live.base,
        refresh_cooldown=0.05,
        http_client=httpx.Client(transport=httpx.MockTransport(route)),
    )
    assert warden.verify(alice).sub
    redirect["to"] = None
    time.sleep(0.1)
    assert warden.verify(alice).sub == live.ids["alice"]
