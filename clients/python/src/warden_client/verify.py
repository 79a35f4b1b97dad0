"""Strict access-token checks, independent of where the keys come from.

The token is taken apart here rather than by a JWT library's convenience decoder so each rule
is explicit: three base64url segments, a JSON header without duplicate members or ``crit``,
an algorithm of the allow-list that the key named by ``kid`` declares, ``typ`` ``at+jwt``,
the low-s form of an ES256 signature (Warden's, as its server requires), then ``iss``,
``aud``, ``exp``, ``nbf`` and ``iat`` with a leeway. ``jku``, ``x5u``, ``jwk`` and ``x5c``
headers are never looked at: the key is chosen by ``kid`` from the issuer's own set only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .decisions import API_KEY_PREFIX
from .errors import TokenError
from .keys import ALGORITHMS, VerifyingKey

MAX_TOKEN_BYTES = 8 * 1024
"""Longest token accepted; longer ones are refused before decoding (as Warden does)."""

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# The order of the P-256 group; an ES256 signature (r, s) is Warden's only with s <= n / 2.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenError("malformed", "the token is malformed")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", "the token is malformed") from None
    # Only the canonical encoding: unused trailing bits set would give one token many spellings.
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise TokenError("malformed", "the token is malformed")
    return data


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member `{key}`")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique, parse_constant=_refuse_constant
        )
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed", "the token is malformed") from None
    if not isinstance(value, dict):
        raise TokenError("malformed", "the token is malformed")
    return value


@dataclass(frozen=True)
class Parsed:
    """A token taken apart: its header, payload, signing input and signature."""

    header: dict[str, Any]
    """The protected header."""
    payload: dict[str, Any]
    """The claims, not yet verified."""
    signing_input: bytes
    """``header.payload`` as signed."""
    signature: bytes
    """The decoded signature."""

    @property
    def alg(self) -> str:
        """The header's ``alg``, one of the allow-list."""
        return str(self.header["alg"])

    @property
    def kid(self) -> str:
        """The header's ``kid``."""
        return str(self.header["kid"])


def parse(token: str) -> Parsed:
    """Takes ``token`` apart and checks its header; raises :class:`TokenError` when refused."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise TokenError("malformed", "the token is malformed")
    if token.startswith(API_KEY_PREFIX):
        raise TokenError("malformed", "an API key is not accepted here: send an access token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", "the token is malformed")
    header = _object(_b64(parts[0]))
    if header.get("alg") not in ALGORITHMS:
        raise TokenError("algorithm", "the token's algorithm is not accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYPES:
        raise TokenError("type", "the token is not an access token")
    if "crit" in header:
        raise TokenError("malformed", "the token names critical header parameters")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError("unknown_key", "the token was not signed by a known key")
    return Parsed(
        header=header,
        payload=_object(_b64(parts[1])),
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=_b64(parts[2]),
    )


def check_signature(parsed: Parsed, key: VerifyingKey | None) -> None:
    """Checks the signature with the key the token names; raises :class:`TokenError`."""
    if key is None:
        raise TokenError("unknown_key", "the token was not signed by a known key")
    if key.alg != parsed.alg:
        raise TokenError("algorithm", "the token's algorithm is not its key's")
    if key.alg == "ES256" and (
        len(parsed.signature) != 64
        or int.from_bytes(parsed.signature[32:], "big") > _P256_ORDER // 2
    ):
        raise TokenError("signature", "the token's signature is invalid")
    try:
        valid = key.verify(parsed.signing_input, parsed.signature)
    except Exception:  # noqa: BLE001 - a malformed signature is an invalid one
        valid = False
    if not valid:
        raise TokenError("signature", "the token's signature is invalid")


def _time(payload: dict[str, Any], name: str, required: bool) -> float | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenError("claims", f"the token's `{name}` claim is missing or not a number")
    return float(value)


def _strings(payload: dict[str, Any], name: str) -> None:
    value = payload.get(name)
    if value is not None and not (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ):
        raise TokenError("claims", f"the token's `{name}` claim is not a list of strings")


def check_claims(
    payload: dict[str, Any],
    *,
    issuer: str,
    audiences: Collection[str],
    leeway: float,
    now: float,
) -> None:
    """Checks ``iss``, ``aud`` (when ``audiences`` is not empty), times and claim types."""
    if payload.get("iss") != issuer:
        raise TokenError("claims", "the token was not issued by this issuer")
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("claims", "the token has no subject")
    if audiences:
        aud = payload.get("aud")
        given = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(item, str) and item in audiences for item in given):
            raise TokenError("claims", "the token was not issued for this audience")
    exp = _time(payload, "exp", required=True)
    if exp is not None and exp <= now - leeway:
        raise TokenError("expired", "the token has expired")
    for name in ("nbf", "iat"):
        moment = _time(payload, name, required=False)
        if moment is not None and moment > now + leeway:
            raise TokenError("premature", "the token is not valid yet")
    for name in ("sid", "acct", "client_id", "jti", "scope"):
        if name in payload and not isinstance(payload[name], str):
            raise TokenError("claims", f"the token's `{name}` claim is not a string")
    _strings(payload, "roles")
    _strings(payload, "permissions")
