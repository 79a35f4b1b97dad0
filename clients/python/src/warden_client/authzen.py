"""Speak the OpenID AuthZEN Authorization API 1.0 to Warden, as a gateway or PEP does.

>>> from warden_client.authzen import PDP
>>> pdp = PDP("http://127.0.0.1:8080", client_id="gateway", client_secret="...")
>>> pdp.evaluate({"type": "user", "id": "alice"}, {"name": "read"}, {"type": "record", "id": "1"})

The caller authenticates as a service client holding ``warden.check:any`` (its token is taken
with the ``client_credentials`` grant and renewed before it expires), or with a bearer token or
API key of its own. Every call fails closed: a denial, an unknown subject and an item that cannot
be decided are all ``False``; Warden being unreachable is :class:`WardenUnavailableError`, a
refused credential :class:`TokenError`, a malformed request :class:`CheckError`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import httpx

from .decisions import usable
from .errors import CheckError, TokenError, WardenUnavailableError

Entity = Mapping[str, Any]
"""A subject or resource (``{"type", "id", "properties"?}``) or an action (``{"name", ...}``)."""

Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]
"""How a batch runs: every item, or up to the first denial or permit."""


class PDP:
    """Warden as an AuthZEN Policy Decision Point.

    Give either ``token`` (a bearer token or API key that holds ``warden.check:any``) or
    ``client_id`` and ``client_secret`` of a service client that does.
    """

    def __init__(
        self,
        base: str,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 5.0,
        http: httpx.Client | None = None,
    ) -> None:
        if (token is None) == (client_id is None or client_secret is None):
            raise ValueError("give either token, or client_id and client_secret")
        self.base = base.rstrip("/")
        self._token = usable(token) if token is not None else None
        self._credentials = (client_id, client_secret) if token is None else None
        self._expires = 0.0
        self._lock = threading.Lock()
        self._http = http or httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._http.close()

    def __enter__(self) -> PDP:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _bearer(self) -> str:
        with self._lock:
            if self._credentials is None:
                return self._token or ""
            if self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = self._client_token()
                # Renew a little before Warden would refuse it.
                self._expires = time.monotonic() + max(lifetime - 30, lifetime / 2)
            return self._token

    def _client_token(self) -> tuple[str, float]:
        client_id, secret = self._credentials or (None, None)
        try:
            response = self._http.post(
                self.base + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id or "", secret or ""),
            )
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden could not be reached: {err}") from err
        if response.status_code >= 500:
            raise WardenUnavailableError(
                f"Warden answered the token request with {response.status_code}"
            )
        body = response.json() if response.content else {}
        if response.status_code != httpx.codes.OK or not isinstance(body.get("access_token"), str):
            raise TokenError(
                "rejected",
                str(body.get("error_description") or "Warden refused the client credentials"),
            )
        return str(body["access_token"]), float(body.get("expires_in") or 60)

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        try:
            response = self._http.post(
                self.base + path,
                json=dict(body),
                headers={"Authorization": f"Bearer {self._bearer()}"},
            )
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden could not be reached: {err}") from err
        status = response.status_code
        if status == httpx.codes.OK:
            try:
                return response.json()
            except ValueError as err:
                raise WardenUnavailableError("Warden answered with no JSON") from err
        if status == httpx.codes.UNAUTHORIZED:
            raise TokenError("rejected", "Warden refused the PEP's credential")
        if status >= 500 or status in (408, 429):
            raise WardenUnavailableError(f"Warden answered with {status}")
        detail = response.text[:200]
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(response.json().get("detail", detail))
        raise CheckError(status, detail)

    def evaluate(
        self,
        subject: Entity,
        action: Entity,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``subject`` may do ``action`` on ``resource``: ``POST /access/v1/evaluation``."""
        body: dict[str, Any] = {"subject": subject, "action": action, "resource": resource}
        if context is not None:
            body["context"] = context
        answer = self._post("/access/v1/evaluation", body)
        return isinstance(answer, dict) and answer.get("decision") is True

    def evaluations(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        subject: Entity | None = None,
        action: Entity | None = None,
        resource: Entity | None = None,
        context: Mapping[str, Any] | None = None,
        semantic: Semantic = "execute_all",
    ) -> list[bool]:
        """Decides ``items`` in one request (``POST /access/v1/evaluations``), the keyword
        arguments as defaults each item overrides. With a short-circuit ``semantic`` the list
        stops at the deciding item.
        """
        if not items:
            raise ValueError("give at least one evaluation")
        body: dict[str, Any] = {"evaluations": [dict(item) for item in items]}
        for key, value in (
            ("subject", subject),
            ("action", action),
            ("resource", resource),
            ("context", context),
        ):
            if value is not None:
                body[key] = value
        if semantic != "execute_all":
            body["options"] = {"evaluations_semantic": semantic}
        answer = self._post("/access/v1/evaluations", body)
        results = answer.get("evaluations") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise WardenUnavailableError("Warden answered a batch without evaluations")
        return [isinstance(item, dict) and item.get("decision") is True for item in results]

    def _search(self, path: str, body: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            page: dict[str, Any] = {"limit": page_size}
            if token:
                page["token"] = token
            answer = self._post(path, {**body, "page": page})
            yield from answer.get("results", [])
            token = str((answer.get("page") or {}).get("next_token") or "")
            if not token:
                return

    def search_subjects(
        self,
        subject_type: str,
        action: Entity,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """The subjects of ``subject_type`` that may do ``action`` on ``resource``, every page."""
        body: dict[str, Any] = {
            "subject": {"type": subject_type},
            "action": action,
            "resource": resource,
        }
        if context is not None:
            body["context"] = context
        return self._search("/access/v1/search/subject", body, page_size)

    def search_resources(
        self,
        subject: Entity,
        action: Entity,
        resource_type: str,
        context: Mapping[str, Any] | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """The registered resources of ``resource_type`` ``subject`` may do ``action`` on."""
        body: dict[str, Any] = {
            "subject": subject,
            "action": action,
            "resource": {"type": resource_type},
        }
        if context is not None:
            body["context"] = context
        return self._search("/access/v1/search/resource", body, page_size)

    def search_actions(
        self,
        subject: Entity,
        resource: Entity,
        context: Mapping[str, Any] | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[str]:
        """The names of the actions ``subject`` may do on ``resource``."""
        body: dict[str, Any] = {"subject": subject, "resource": resource}
        if context is not None:
            body["context"] = context
        for item in self._search("/access/v1/search/action", body, page_size):
            if isinstance(item.get("name"), str):
                yield item["name"]
