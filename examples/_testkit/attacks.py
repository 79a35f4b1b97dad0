"""Tokens an attacker can make: forged with their own key, tampered, unsigned, algorithm-confused.

Each starts from a real Warden token, so every claim (iss, aud, exp, kid ...) looks right and
only the signature gives it away.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _encode(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


def forged(token: str, **claims: Any) -> str:
    """The token's header (Warden's `kid`) and claims, signed with the attacker's own P-256 key."""
    header, payload = _parts(token)
    payload.update(claims)
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": header["kid"], "typ": "at+jwt"})


def tampered(token: str, **claims: Any) -> str:
    """The claims changed (roles raised, say), Warden's original signature kept."""
    header, payload = _parts(token)
    payload.update(claims)
    return _encode(header, payload) + "." + token.rsplit(".", 1)[1]


def unsigned(token: str, **claims: Any) -> str:
    """`alg: none`, no signature."""
    header, payload = _parts(token)
    payload.update(claims)
    return _encode({**header, "alg": "none"}, payload) + "."


def hmac_confused(token: str, jwks: dict[str, Any], **claims: Any) -> str:
    """HS256 keyed with Warden's public JWKS: the classic algorithm-confusion attack."""
    header, payload = _parts(token)
    payload.update(claims)
    signing_input = _encode({**header, "alg": "HS256"}, payload)
    secret = json.dumps(jwks["keys"][0]).encode()
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(digest)


def bad_tokens(token: str, jwks: dict[str, Any], **claims: Any) -> dict[str, str]:
    """Every kind of bad token, by name, each claiming `claims` (for example roles=["admin"])."""
    return {
        "forged": forged(token, **claims),
        "tampered": tampered(token, **claims),
        "unsigned": unsigned(token, **claims),
        "hmac-confused": hmac_confused(token, jwks, **claims),
        "garbage": "not-a-jwt",
    }
