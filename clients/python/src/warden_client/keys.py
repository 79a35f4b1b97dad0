"""Warden's public signing keys: discovery, parsing, and a cache that refreshes once at a time.

The key set comes from the issuer's RFC 8414 metadata (``jwks_uri``), falling back to
``/.well-known/jwks.json``. It is cached for the JWKS ``max-age``; a token naming an unknown
``kid`` triggers a refresh, but at most one per cooldown, and only one fetch runs at a time
across threads and event loops (the others wait for it). A failed refresh keeps the last good
key set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm

from .errors import WardenUnavailableError

log = logging.getLogger("warden_client")

ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})
"""The only algorithms a key may declare: what Warden signs with. Never ``none`` or HMAC."""

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048
_DEFAULT_MAX_AGE = 300.0
_MAX_MAX_AGE = 86_400.0


@dataclass(frozen=True)
class VerifyingKey:
    """One public key of the issuer: its ``kid``, the one algorithm it verifies, the key."""

    kid: str
    """The key id tokens name in their header."""
    alg: str
    """The algorithm the JWKS declares for it (``EdDSA``, ``ES256`` or ``RS256``)."""
    algorithm: Algorithm
    """PyJWT's implementation of that algorithm."""
    key: Any
    """The ``cryptography`` public key."""

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``signing_input``."""
        return bool(self.algorithm.verify(signing_input, self.key, signature))


def _matches(alg: str, key: Any) -> bool:
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    if alg == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS


def parse_key(jwk: Any) -> VerifyingKey | None:
    """One JWK as a verifying key, or ``None`` when it is not a usable public signing key.

    A key must declare ``kid`` and an ``alg`` of :data:`ALGORITHMS` that fits its type and
    curve, and ``use`` (when present) must be ``sig``. Private members are dropped.
    """
    if not isinstance(jwk, dict):
        return None
    kid, alg, use = jwk.get("kid"), jwk.get("alg"), jwk.get("use", "sig")
    if not isinstance(kid, str) or not kid or alg not in ALGORITHMS or use != "sig":
        return None
    public = {name: value for name, value in jwk.items() if name not in _PRIVATE_MEMBERS}
    try:
        parsed = jwt.PyJWK(public, algorithm=str(alg))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not _matches(str(alg), parsed.key):
        return None
    return VerifyingKey(kid=kid, alg=str(alg), algorithm=parsed.Algorithm, key=parsed.key)


def parse_jwks(document: Any) -> dict[str, VerifyingKey]:
    """The usable keys of a JWK Set by ``kid``; a ``kid`` given twice is dropped entirely."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS is not an object with a `keys` list")
    keys: dict[str, VerifyingKey] = {}
    seen: set[str] = set()
    for jwk in document["keys"]:
        key = parse_key(jwk)
        if key is None:
            continue
        if key.kid in seen:
            keys.pop(key.kid, None)
            continue
        seen.add(key.kid)
        keys[key.kid] = key
    return keys


def max_age(headers: Mapping[str, str]) -> float:
    """The ``max-age`` of a ``Cache-Control`` header, in seconds, or the default 300."""
    found = re.search(r"(?:^|[,\s])max-age=(\d+)", headers.get("cache-control", ""))
    return float(found.group(1)) if found else _DEFAULT_MAX_AGE


@dataclass(frozen=True)
class Fetched:
    """The outcome of one successful fetch: the keys and how long they stay fresh."""

    keys: dict[str, VerifyingKey]
    """The usable keys by ``kid``."""
    max_age: float
    """The JWKS ``max-age``, seconds."""


class KeyCache:
    """The issuer's key set, cached, refreshed on expiry or unknown ``kid``, one fetch at a time.

    ``fetch`` and ``afetch`` fetch the key set (blocking, and on an event loop). ``cooldown``
    is the least time between two refresh attempts, successful or not; ``timeout`` bounds the
    wait for a fetch another thread or task is running.
    """

    def __init__(
        self,
        fetch: Callable[[], Fetched],
        afetch: Callable[[], Awaitable[Fetched]],
        *,
        cooldown: float,
        timeout: float,
    ) -> None:
        self._fetch = fetch
        self._afetch = afetch
        self._cooldown = cooldown
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._keys: dict[str, VerifyingKey] = {}
        self._loaded = False
        self._fresh_until = 0.0
        self._last_attempt: float | None = None
        self._flight: Future[None] | None = None
        self.fetches = 0
        """How many fetches were started (for tests and metrics)."""

    def _plan(self, kid: str) -> tuple[VerifyingKey | None, Future[None] | None, bool]:
        """Under the mutex: the key known now, the flight to join or lead, whether we lead."""
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now >= self._fresh_until
        if key is not None and not stale:
            return key, None, False
        if self._flight is not None:
            return key, self._flight, False
        # Before the first success, retry sooner, so a service that started before Warden
        # recovers quickly; afterwards a failing issuer is asked at most once per cooldown.
        wait = self._cooldown if self._loaded else min(self._cooldown, 1.0)
        if self._last_attempt is not None and now - self._last_attempt < wait:
            return key, None, False
        self._last_attempt = now
        self.fetches += 1
        self._flight = Future()
        return key, self._flight, True

    def _land(self, flight: Future[None], fetched: Fetched | None) -> None:
        with self._mutex:
            if fetched is not None:
                self._keys = fetched.keys
                self._loaded = True
                age = min(max(fetched.max_age, self._cooldown), _MAX_MAX_AGE)
                self._fresh_until = time.monotonic() + age
            self._flight = None
        flight.set_result(None)

    def _result(self, kid: str) -> VerifyingKey | None:
        with self._mutex:
            if not self._loaded:
                raise WardenUnavailableError("Warden's signing keys could not be fetched")
            return self._keys.get(kid)

    def get(self, kid: str) -> VerifyingKey | None:
        """The key named ``kid``, refreshing the set first when that is due (blocking)."""
        with self._mutex:
            key, flight, lead = self._plan(kid)
        if flight is None:
            return key if key is not None else self._result(kid)
        if lead:
            fetched = None
            try:
                fetched = self._fetch()
            except Exception as err:  # noqa: BLE001 - any failure keeps the last good set
                log.warning("warden: fetching the signing keys failed: %s", err)
            finally:
                self._land(flight, fetched)
        elif key is not None:
            return key  # a stale but known key serves while another caller refreshes
        else:
            with contextlib.suppress(FutureTimeout):
                flight.result(timeout=self._timeout)
        return self._result(kid)

    async def aget(self, kid: str) -> VerifyingKey | None:
        """The key named ``kid``, refreshing first when due, without blocking the event loop."""
        with self._mutex:
            key, flight, lead = self._plan(kid)
        if flight is None:
            return key if key is not None else self._result(kid)
        if lead:
            fetched = None
            try:
                fetched = await self._afetch()
            except Exception as err:  # noqa: BLE001 - any failure keeps the last good set
                log.warning("warden: fetching the signing keys failed: %s", err)
            finally:
                self._land(flight, fetched)
        elif key is not None:
            return key
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(flight), self._timeout)
        return self._result(kid)


def _discovered(issuer: str, metadata: httpx.Response | None) -> str:
    """The ``jwks_uri`` of the metadata, or the well-known JWKS path when there is none."""
    fallback = issuer.rstrip("/") + "/.well-known/jwks.json"
    if metadata is None or metadata.status_code != httpx.codes.OK:
        return fallback
    document = metadata.json()
    if not isinstance(document, dict):
        return fallback
    if document.get("issuer") != issuer:
        # RFC 8414 §3.3: metadata for another issuer must not be used.
        raise ValueError(f"the metadata names the issuer `{document.get('issuer')}`")
    uri = document.get("jwks_uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        return fallback
    if issuer.startswith("https://") and not uri.startswith("https://"):
        # Keys fetched in the clear would let anyone on the path sign tokens.
        raise ValueError(f"the metadata's jwks_uri `{uri}` is not https")
    return uri


def _keys_from(response: httpx.Response) -> Fetched:
    response.raise_for_status()
    return Fetched(keys=parse_jwks(response.json()), max_age=max_age(response.headers))


class Discovery:
    """Finds and fetches the issuer's JWKS over HTTP, remembering the ``jwks_uri``."""

    def __init__(self, issuer: str) -> None:
        self._issuer = issuer
        self._jwks_uri: str | None = None
        self._metadata_uri = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"

    def fetch(self, client: httpx.Client) -> Fetched:
        """Fetches the key set with a blocking client."""
        if self._jwks_uri is None:
            try:
                metadata: httpx.Response | None = client.get(self._metadata_uri)
            except httpx.HTTPError:
                metadata = None
            self._jwks_uri = _discovered(self._issuer, metadata)
        return _keys_from(client.get(self._jwks_uri))

    async def afetch(self, client: httpx.AsyncClient) -> Fetched:
        """Fetches the key set with an asynchronous client."""
        if self._jwks_uri is None:
            try:
                metadata: httpx.Response | None = await client.get(self._metadata_uri)
            except httpx.HTTPError:
                metadata = None
            self._jwks_uri = _discovered(self._issuer, metadata)
        return _keys_from(await client.get(self._jwks_uri))
