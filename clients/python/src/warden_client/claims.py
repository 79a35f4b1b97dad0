"""The verified claims of a Warden access token, typed, with the raw claim set behind them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)):
        return tuple(item for item in value if isinstance(item, str))
    return ()


@dataclass(frozen=True, eq=False)
class Claims(Mapping[str, Any]):
    """The claims of a verified access token.

    The typed attributes cover what Warden emits (RFC 9068 plus ``sid``, ``acct``, ``roles``,
    ``scope`` and ``permissions``); every claim, known or not, is also readable as from a
    dict: ``claims["acct"]``, ``claims.get("custom")``, :attr:`raw`. A permission guard that
    accepted an API key gives claims with :attr:`api_key` set.
    """

    sub: str
    """The subject: a user id, or ``client:<client_id>`` for a service client."""
    iss: str
    """The issuer, equal to the :class:`~warden_client.Warden`'s issuer."""
    exp: int
    """Expiry, seconds since the epoch."""
    aud: tuple[str, ...] = ()
    """The audiences (Warden emits one, ``warden`` by default)."""
    iat: int | None = None
    """Issued at, seconds since the epoch."""
    nbf: int | None = None
    """Not before, seconds since the epoch."""
    jti: str | None = None
    """The token's unique id."""
    sid: str | None = None
    """The login session; ending it revokes the token."""
    acct: str | None = None
    """The account (tenant) id the token acts in, as Warden emits it (``acct``)."""
    client_id: str | None = None
    """The OAuth2 client the token was issued to."""
    roles: tuple[str, ...] = ()
    """Role names effective in the account, inherited ones included.

    Taken from the ``roles`` claim; from ``scope`` when a token carries no ``roles``.
    """
    scope: tuple[str, ...] = ()
    """The ``scope`` claim split on spaces (RFC 9068 §2.2.3): the same role names."""
    permissions: tuple[str, ...] = ()
    """The ``permissions`` claim, when Warden includes it."""
    api_key: bool = False
    """Whether these stand for a ``wk_…`` API key that Warden allowed, rather than a token.

    A permission guard accepts API keys; their claims carry ``sub`` (the key holder's user id,
    or ``client:`` for a service client's key), ``iss`` and ``acct`` only, ``exp`` 0 (Warden
    keeps the key's expiry) and no roles (Warden applied the key's roles in the check).
    """
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Every claim as decoded from the token."""

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Claims:
        """Builds claims from a decoded payload that has already been validated."""
        aud = payload.get("aud")
        scope = _names(payload.get("scope"))
        roles = _names(payload["roles"]) if "roles" in payload else scope
        return cls(
            sub=str(payload["sub"]),
            iss=str(payload["iss"]),
            exp=int(payload["exp"]),
            aud=(aud,) if isinstance(aud, str) else _names(aud),
            iat=_number(payload.get("iat")),
            nbf=_number(payload.get("nbf")),
            jti=_text(payload.get("jti")),
            sid=_text(payload.get("sid")),
            acct=_text(payload.get("acct")),
            client_id=_text(payload.get("client_id")),
            roles=roles,
            scope=scope,
            permissions=_names(payload.get("permissions")),
            raw=dict(payload),
        )

    @property
    def account_id(self) -> str | None:
        """The account (tenant) id: the ``acct`` claim."""
        return self.acct

    @property
    def is_client(self) -> bool:
        """Whether the subject is a service client (``sub`` is ``client:<client_id>``)."""
        return self.sub.startswith("client:")

    def has_roles(self, *roles: str, any_of: bool = False) -> bool:
        """Whether the token carries every one of ``roles`` (any one with ``any_of=True``)."""
        held = set(self.roles)
        if any_of:
            return any(role in held for role in roles)
        return all(role in held for role in roles)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)
