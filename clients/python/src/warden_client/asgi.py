"""FastAPI dependencies: verify the bearer token without blocking the event loop, check roles
or ask Warden for a permission, and refuse with ``HTTPException`` (401/403 with their
``WWW-Authenticate`` challenge, 503 when Warden cannot be reached).

Each dependency declares an HTTP bearer security scheme, so FastAPI's ``/docs`` shows the lock
and Authorize takes a token. (A password form would have the browser post to Warden's token
endpoint from another origin, which Warden, sending no CORS headers, does not allow.)
This module imports FastAPI; :class:`~warden_client.Warden` imports it only when asked for a
dependency.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .claims import Claims
from .context import active
from .decisions import ip_address
from .guard import Denial, Requirement, aauthorize, bearer, context_of, resource_of

if TYPE_CHECKING:
    from .client import Warden

ClaimsDependency = Callable[..., Coroutine[Any, Any, Claims]]
"""A FastAPI dependency that answers the verified :class:`~warden_client.Claims`."""

_SCHEMES: weakref.WeakKeyDictionary[Warden, HTTPBearer] = weakref.WeakKeyDictionary()


def scheme(warden: Warden) -> HTTPBearer:
    """The bearer security scheme of ``warden``'s dependencies (one per client, for OpenAPI)."""
    found = _SCHEMES.get(warden)
    if found is None:
        found = HTTPBearer(
            bearerFormat="JWT",
            scheme_name="warden",
            description=(
                f"A Warden access token (from {warden.issuer.rstrip('/')}/oauth/token); "
                "permission checks also take a `wk_` API key"
            ),
            auto_error=False,
        )
        _SCHEMES[warden] = found
    return found


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def dependency(warden: Warden, requirement: Requirement) -> ClaimsDependency:
    """A dependency enforcing ``requirement``; it answers the claims and sets them on
    ``request.state.warden_claims`` and :func:`~warden_client.current_claims`.
    """
    bearer_scheme = scheme(warden)

    async def warden_claims(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    ) -> Claims:
        def call(function: Any) -> Any:
            return function(request)

        async def check() -> tuple[Any, Any]:
            arguments = dict(request.path_params)
            resource = await _resolved(resource_of(requirement, arguments, call))
            context = await _resolved(context_of(requirement, call))
            return resource, context

        peer = None
        if warden.forward_client_address and request.client is not None:
            peer = ip_address(request.client.host)  # the ASGI server's idea of the peer
        try:
            claims = await aauthorize(warden, bearer(request.headers), requirement, check, peer)
        except Denial as denial:
            headers = {"Cache-Control": "no-store"}
            if denial.status in (401, 403):
                headers["WWW-Authenticate"] = denial.challenge(warden.realm)
            raise HTTPException(denial.status, denial.description, headers=headers) from None
        request.state.warden_claims = claims
        active.set((request, claims))
        return claims

    return warden_claims
