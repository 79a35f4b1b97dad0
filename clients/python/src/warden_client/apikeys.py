"""API keys (``wk_…``) in permission guards. Warden authenticates a key itself, in the
``POST /v1/check`` that decides the permission; this module then answers who holds a key that
Warden has just allowed (``GET /v1/users/me/permissions``), for the handler's claims.

The holder of a key never changes, and the cache is read only after Warden allowed the key for
the request at hand, so it saves a round trip per request without letting a revoked, expired
or address-restricted key through.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

import httpx

from .claims import Claims
from .decisions import credential_headers
from .errors import TokenError, WardenUnavailableError

HOLDER_TTL = 300.0
"""Seconds a key's holder is remembered."""

_MAX_KEYS = 1024


def holder_request(base: str, key: str, forwarded_for: str | None) -> tuple[str, dict[str, str]]:
    """The URL and headers asking Warden who holds ``key``."""
    return base + "/v1/users/me/permissions", credential_headers(key, forwarded_for)


def holder_claims(response: httpx.Response, issuer: str, account: str | None) -> Claims:
    """The claims standing for a key's holder, from Warden's answer about it.

    A user's key answers the user's id and the key's account. A service client's key is not
    told apart by Warden here (403): its ``sub`` is ``client:``, without the client's id, and
    its account is ``account``, the one the check was pinned to (if any).
    The roles and permissions Warden lists are the holder's, not the key's (a key may carry
    fewer), so they are left out: ``roles`` stays empty.
    """
    status = response.status_code
    if status == httpx.codes.OK:
        try:
            answer = response.json()
        except ValueError as err:
            raise WardenUnavailableError("Warden answered with no JSON") from err
        sub, acct = answer.get("user_id"), answer.get("account_id")
        if not isinstance(sub, str) or not sub:
            raise WardenUnavailableError("Warden's answer names no user")
    elif status == httpx.codes.FORBIDDEN:
        sub, acct = "client:", account
    elif status == httpx.codes.UNAUTHORIZED:
        raise TokenError("rejected", "the API key was refused")
    else:
        raise WardenUnavailableError(f"Warden answered {status} about the API key")
    acct = acct if isinstance(acct, str) else None
    raw = {"iss": issuer, "sub": sub, **({"acct": acct} if acct else {})}
    return Claims(sub=sub, iss=issuer, exp=0, acct=acct, api_key=True, raw=raw)


class Holders:
    """Who holds each recently allowed API key, by the key's SHA-256 (never the key itself)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Claims]] = {}

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def get(self, key: str) -> Claims | None:
        """The remembered holder of ``key``, if still fresh."""
        with self._lock:
            found = self._known.get(self._digest(key))
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def put(self, key: str, claims: Claims) -> Claims:
        """Remembers ``claims`` as the holder of ``key``; answers them."""
        with self._lock:
            if len(self._known) >= _MAX_KEYS:
                del self._known[next(iter(self._known))]
            self._known[self._digest(key)] = (self._clock() + HOLDER_TTL, claims)
        return claims
