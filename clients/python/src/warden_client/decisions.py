"""The wire shape of ``POST /v1/check``: the request a decision asks, and what its answer means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from .errors import CheckError, TokenError, WardenUnavailableError
from .guard import default_resource


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
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, JSON body and headers of a check of ``action`` on ``resource`` for ``token``."""
    if not isinstance(action, str) or not action:
        raise ValueError("the action must be a non-empty string")
    body = {
        "action": action,
        "resource": dict(resource) if resource is not None else default_resource(action),
        "context": dict(context) if context is not None else {},
    }
    return base + "/v1/check", body, {"Authorization": f"Bearer {token}"}


def decision(response: httpx.Response) -> bool:
    """Whether Warden's answer allows; raises for answers that are no decision.

    200 is the decision (anything but ``"allowed": true`` denies); 401 is a refused token
    (:class:`TokenError`), 403 a denial, 408, 429 and 5xx :class:`WardenUnavailableError`,
    any other 4xx a malformed request (:class:`CheckError`).
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
        return False
    if status >= 500 or status in (408, 429):
        raise WardenUnavailableError(f"Warden answered the check with {status}")
    raise CheckError(status, _detail(response))
