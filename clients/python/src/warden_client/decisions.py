"""The wire shape of ``POST /v1/check``: the request a decision asks, and what its answer means.

Also the checks every credential passes before it is sent anywhere: a token or API key that
could not be a bearer credential (empty, blank, spaces or control characters inside) is a
:class:`TokenError` here, never a request that fails in the HTTP library as if Warden were down.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import httpx

from .errors import CheckError, TokenError, WardenUnavailableError

API_KEY_PREFIX = "wk_"
"""How every Warden API key starts; anything else presented as a bearer is an access token."""

BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""What an ``Authorization: Bearer`` credential may consist of (RFC 6750 §2.1 ``b64token``)."""

# What a forwarded address chain may hold: addresses, commas, spaces (no CR/LF, no quotes).
_FORWARDED = re.compile(r"[0-9A-Za-z:.,%_ -]{1,1000}")


def is_api_key(token: str) -> bool:
    """Whether ``token`` is a Warden API key (``wk_…``) rather than an access token."""
    return token.startswith(API_KEY_PREFIX)


def usable(token: Any) -> str:
    """``token`` if it can be a bearer credential; otherwise :class:`TokenError` (``malformed``)."""
    if not isinstance(token, str) or not token.strip():
        raise TokenError("malformed", "no token was given")
    if not BEARER_TOKEN.fullmatch(token):
        raise TokenError("malformed", "the token is malformed")
    return token


def ip_address(value: Any) -> str | None:
    """``value`` when it is an IP address (a request's peer, say), else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def default_resource(action: str) -> dict[str, Any]:
    """The resource checked when a guard names none: typed after the action's resource part.

    ``documents:edit`` checks ``{"type": "documents", "id": ""}``; an action without a
    ``resource:`` part checks ``{"type": "Resource", "id": ""}``.
    """
    kind = action.rsplit(":", 1)[0] if ":" in action else ""
    kind = re.sub(r"[^A-Za-z0-9_]", "_", kind)
    if not kind or kind[0].isdigit():
        kind = "Resource"
    return {"type": kind, "id": ""}


def credential_headers(token: str, forwarded_for: str | None) -> dict[str, str]:
    """The headers presenting ``token`` to Warden, with ``X-Forwarded-For`` when given."""
    headers = {"Authorization": f"Bearer {usable(token)}"}
    if forwarded_for is not None:
        if not isinstance(forwarded_for, str) or not _FORWARDED.fullmatch(forwarded_for):
            raise ValueError("forwarded_for must be an IP address, or a comma-separated chain")
        headers["X-Forwarded-For"] = forwarded_for.strip()
    return headers


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return response.text[:200]


def check_request(
    base: str,
    token: str,
    action: str,
    resource: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    *,
    account: str | None = None,
    forwarded_for: str | None = None,
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, JSON body and headers of a check of ``action`` on ``resource`` for ``token``.

    With ``account``, the body names it (``account_id``): Warden then answers 403 for a token
    or API key acting in any other account.
    """
    if not isinstance(action, str) or not action:
        raise ValueError("the action must be a non-empty string")
    headers = credential_headers(token, forwarded_for)
    body: dict[str, Any] = {
        "action": action,
        "resource": dict(resource) if resource is not None else default_resource(action),
        "context": dict(context) if context is not None else {},
    }
    if account is not None:
        body["account_id"] = account
    return base + "/v1/check", body, headers


def decision(response: httpx.Response, *, pinned: bool = False) -> bool:
    """Whether Warden's answer allows; raises for answers that are no decision.

    200 is the decision (anything but ``"allowed": true`` denies); 401 is a refused token
    (:class:`TokenError`); 403 a denial, or, for a check naming the pinned account
    (``pinned``), a credential of another account (:class:`TokenError` ``account``); 408, 429
    and 5xx :class:`WardenUnavailableError`; any other 4xx a malformed request
    (:class:`CheckError`).
    """
    status = response.status_code
    if status == httpx.codes.OK:
        try:
            answer = response.json()
        except ValueError as err:
            raise WardenUnavailableError("Warden answered a check with no JSON") from err
        return isinstance(answer, dict) and answer.get("allowed") is True
    if status == httpx.codes.UNAUTHORIZED:
        raise TokenError("rejected", _detail(response) or "Warden refused the token")
    if status == httpx.codes.FORBIDDEN:
        # Without a named principal, the only 403 of /v1/check is a token or key checked in an
        # account other than its own.
        if pinned:
            raise TokenError("account", "the token was issued in another account")
        return False
    if status >= 500 or status in (408, 429):
        raise WardenUnavailableError(f"Warden answered the check with {status}")
    raise CheckError(status, _detail(response))
