"""Verification rules, with tokens forged by a fake issuer's local keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from support import Forger, b64, forge, new_key, public_jwk
from warden_client import Claims, TokenError, Warden, WardenUnavailableError


def verifier(forger: Forger, **options: object) -> Warden:
    return Warden(forger.issuer.base, audience="warden", **options)  # type: ignore[arg-type]


def refused(warden: Warden, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        warden.verify(token)
    return caught.value.reason


@pytest.mark.parametrize("kid", ["es", "ed", "rs"])
def test_a_token_signed_by_each_published_algorithm_verifies(forger: Forger, kid: str) -> None:
    claims = verifier(forger).verify(forger.token(kid))
    assert isinstance(claims, Claims)
    assert (claims.sub, claims.sid, claims.roles, claims.aud) == (
        "user-1",
        "s1",
        ("editor",),
        ("warden",),
    )


def test_typ_is_matched_without_regard_to_case_and_with_the_media_type(forger: Forger) -> None:
    warden = verifier(forger)
    for typ in ("AT+JWT", "application/at+jwt"):
        assert warden.verify(forger.token(header={"typ": typ})).sub == "user-1"


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt; x", "id_token"])
def test_a_token_that_is_not_an_access_token_is_refused(forger: Forger, typ: str | None) -> None:
    header = {"typ": typ} if typ is not None else {"typ": None}
    token = forger.token(raw_header=json.dumps({"alg": "ES256", "kid": "es", **header}))
    assert refused(verifier(forger), token) == "type"


def test_alg_none_is_refused(forger: Forger) -> None:
    head = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": "es"}).encode())
    body = b64(json.dumps(forger.claims()).encode())
    assert refused(verifier(forger), f"{head}.{body}.") == "algorithm"


def test_hmac_with_the_public_key_as_secret_is_refused(forger: Forger) -> None:
    jwks = json.dumps(forger.issuer.keys[2]).encode()
    head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "rs"}).encode())
    body = b64(json.dumps(forger.claims()).encode())
    mac = hmac.new(jwks, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert refused(verifier(forger), f"{head}.{body}.{b64(mac)}") == "algorithm"


def test_an_algorithm_other_than_the_keys_own_is_refused(forger: Forger) -> None:
    # Signed by the RSA key, but the header names the ES256 key's kid: the key's alg rules.
    key, _ = forger.keys["rs"]
    token = forge(key, "RS256", forger.claims(), kid="es")
    assert refused(verifier(forger), token) == "algorithm"


def test_a_key_published_without_alg_is_not_used(forger: Forger) -> None:
    key = new_key("ES256")
    jwk = public_jwk(key, "ES256", "bare")
    del jwk["alg"]
    forger.issuer.keys.append(jwk)
    assert (
        refused(verifier(forger), forge(key, "ES256", forger.claims(), kid="bare")) == "unknown_key"
    )


def test_an_unknown_kid_and_a_missing_kid_are_refused(forger: Forger) -> None:
    warden = verifier(forger)
    key, _ = forger.keys["es"]
    assert refused(warden, forge(key, "ES256", forger.claims(), kid="nobody")) == "unknown_key"
    head = json.dumps({"alg": "ES256", "typ": "at+jwt"})
    assert (
        refused(warden, forge(key, "ES256", forger.claims(), kid="", raw_header=head))
        == "unknown_key"
    )


def test_a_key_offered_in_the_header_is_never_followed(forger: Forger) -> None:
    attacker = new_key("ES256")
    jwk = public_jwk(attacker, "ES256", "es")
    token = forge(
        attacker, "ES256", forger.claims(), kid="es", header={"jwk": jwk, "jku": forger.issuer.base}
    )
    assert refused(verifier(forger), token) == "signature"


def test_a_critical_header_or_a_duplicate_member_is_refused(forger: Forger) -> None:
    warden = verifier(forger)
    assert refused(warden, forger.token(header={"crit": ["exp"], "exp": 1})) == "malformed"
    duplicate = '{"alg": "ES256", "typ": "at+jwt", "kid": "es", "kid": "ed"}'
    assert refused(warden, forger.token(raw_header=duplicate)) == "malformed"


def test_a_high_s_twin_of_an_es256_signature_is_refused(forger: Forger) -> None:
    warden = verifier(forger)
    claims = forger.claims()
    assert warden.verify(forger.token(claims=claims)).sub == "user-1"
    assert refused(warden, forger.token(claims=claims, high_s=True)) == "signature"


def test_a_non_canonical_base64_signature_is_refused(forger: Forger) -> None:
    token = forger.token("ed")
    head, body, signature = token.split(".")
    # 64 bytes encode to 86 characters whose last one carries 4 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) + 1]
    assert refused(verifier(forger), f"{head}.{body}.{signature[:-1]}{twin}") == "malformed"


def test_changing_the_payload_breaks_the_signature(forger: Forger) -> None:
    token = forger.token()
    head, _, signature = token.split(".")
    body = b64(json.dumps(forger.claims(roles=["super_admin"])).encode())
    assert refused(verifier(forger), f"{head}.{body}.{signature}") == "signature"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.e30.AA", "x" * 9000])
def test_garbage_is_refused_as_malformed_or_unaccepted(forger: Forger, token: str) -> None:
    assert refused(verifier(forger), token) in ("malformed", "algorithm")


def test_an_expired_token_is_refused_beyond_the_leeway(forger: Forger) -> None:
    now = int(time.time())
    old = forger.token(claims=forger.claims(exp=now - 20, iat=now - 900, nbf=now - 900))
    assert verifier(forger).verify(old).sub == "user-1"  # within the default 30 s
    assert refused(verifier(forger, leeway=5), old) == "expired"
    assert refused(verifier(forger), forger.token(claims=forger.claims(exp=now - 31))) == "expired"


def test_a_token_not_valid_yet_is_refused(forger: Forger) -> None:
    now = int(time.time())
    warden = verifier(forger)
    assert refused(warden, forger.token(claims=forger.claims(nbf=now + 120))) == "premature"
    assert refused(warden, forger.token(claims=forger.claims(iat=now + 120))) == "premature"
    assert warden.verify(forger.token(claims=forger.claims(nbf=now + 20))).sub == "user-1"


def test_the_clock_is_injectable(forger: Forger) -> None:
    token = forger.token()
    later = verifier(forger, clock=lambda: time.time() + 3600)
    assert refused(later, token) == "expired"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"iss": "http://elsewhere"}, "claims"),
        ({"aud": "billing"}, "claims"),
        ({"aud": None}, "claims"),
        ({"sub": None}, "claims"),
        ({"exp": None}, "claims"),
        ({"exp": "soon"}, "claims"),
        ({"exp": True}, "claims"),
        ({"roles": "editor"}, "claims"),
        ({"sid": 7}, "claims"),
        ({"permissions": [1]}, "claims"),
    ],
)
def test_claims_are_checked(forger: Forger, override: dict[str, object], reason: str) -> None:
    assert refused(verifier(forger), forger.token(claims=forger.claims(**override))) == reason


def test_audience_is_checked_only_when_given_and_any_of_several_matches(forger: Forger) -> None:
    token = forger.token(claims=forger.claims(aud=["billing", "warden"]))
    assert Warden(forger.issuer.base).verify(token).aud == ("billing", "warden")
    assert Warden(forger.issuer.base, audience=["reports", "billing"]).verify(token).sub
    assert refused(Warden(forger.issuer.base, audience="reports"), token) == "claims"


def test_claims_expose_roles_scope_permissions_and_raw_access(forger: Forger) -> None:
    token = forger.token(
        claims=forger.claims(
            acct="acme-id",
            scope="editor viewer",
            roles=["editor", "viewer"],
            permissions=["a:b"],
            extra=1,
        )
    )
    claims = verifier(forger).verify(token)
    assert claims.account_id == claims.acct == "acme-id"
    assert claims.scope == ("editor", "viewer") and claims.roles == ("editor", "viewer")
    assert claims.permissions == ("a:b",)
    assert claims["extra"] == 1 and claims.get("missing") is None and "jti" in claims
    assert claims.has_roles("editor", "viewer") and not claims.has_roles("editor", "admin")
    assert claims.has_roles("editor", "admin", any_of=True)
    assert not claims.is_client


def test_roles_fall_back_to_scope_when_a_token_has_no_roles_claim(forger: Forger) -> None:
    token = forger.token(claims=forger.claims(roles=None, scope="viewer"))
    assert verifier(forger).verify(token).roles == ("viewer",)


def test_the_jwks_is_found_without_metadata(forger: Forger) -> None:
    forger.issuer.metadata = False
    assert verifier(forger).verify(forger.token()).sub == "user-1"
    assert forger.issuer.metadata_requests == 1 and forger.issuer.jwks_requests == 1


def test_metadata_naming_another_issuer_is_not_used(forger: Forger) -> None:
    token = forger.token()
    impostor = Warden(forger.issuer.base + "/", refresh_cooldown=0)
    # The metadata says the issuer is the base without the slash: refused, no keys.
    with pytest.raises(WardenUnavailableError):
        impostor.verify(token)


def test_keys_are_fetched_once_while_fresh(forger: Forger) -> None:
    warden = verifier(forger)
    for kid in ("es", "ed", "rs", "es"):
        warden.verify(forger.token(kid))
    assert forger.issuer.jwks_requests == 1 and forger.issuer.metadata_requests == 1


def test_an_unreachable_issuer_before_any_key_is_unavailable(forger: Forger) -> None:
    token = forger.token()
    forger.issuer.mode = "error"
    with pytest.raises(WardenUnavailableError):
        verifier(forger).verify(token)


def test_the_last_good_keys_serve_through_an_outage(forger: Forger) -> None:
    forger.issuer.max_age = 0  # stale at once: every cooldown asks again
    warden = verifier(forger, refresh_cooldown=0.05)
    token = forger.token()
    assert warden.verify(token).sub == "user-1"
    forger.issuer.mode = "error"
    time.sleep(0.1)
    assert warden.verify(token).sub == "user-1"  # the refresh failed; the old keys serve
    forger.issuer.stop()  # now nothing listens at all
    time.sleep(0.1)
    for kid in ("es", "ed", "rs"):
        assert warden.verify(forger.token(kid)).sub == "user-1"
    assert (
        refused(warden, forge(new_key("ES256"), "ES256", forger.claims(), kid="new"))
        == "unknown_key"
    )


def test_a_private_member_in_the_jwks_is_ignored(forger: Forger) -> None:
    key, _ = forger.keys["es"]
    private = forger.issuer.keys[0] | {"d": b64(b"\x01" * 32)}
    forger.issuer.keys[0] = private
    assert verifier(forger).verify(forge(key, "ES256", forger.claims(), kid="es")).sub == "user-1"
