"""Guards for Flask views and ``def handler(request)`` cloud functions.

A guarded view finds its request in its positional arguments (the Functions Framework passes
it, so does any handler shaped ``handler(request)``), or else Flask's current request. A
refusal is an RFC 9457 JSON body with an RFC 6750 challenge: a Flask response inside a Flask
request, otherwise the ``(body, status, headers)`` tuple every WSGI-style function framework
accepts. Flask is imported only when a Flask request is being served.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .claims import Claims
from .context import active
from .decisions import ip_address
from .guard import (
    Denial,
    Requirement,
    aauthorize,
    authorize,
    bearer,
    context_of,
    resource_of,
)

if TYPE_CHECKING:
    from .client import Warden

F = TypeVar("F", bound=Callable[..., Any])


def _flask_request() -> Any:
    """Flask's current request when Flask is loaded and serving one, else ``None``."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    return flask.request._get_current_object()


def _request(args: tuple[Any, ...]) -> Any:
    for arg in args:
        if hasattr(arg, "headers") and not inspect.isclass(arg):
            return arg
    found = _flask_request()
    if found is None:
        raise RuntimeError(
            "a Warden guard found no request: call the view inside a Flask request, or pass "
            "an object with `headers` as an argument"
        )
    return found


def _refusal(warden: Warden, denial: Denial) -> Any:
    headers = denial.headers(warden.realm)
    if _flask_request() is not None:
        import flask

        return flask.Response(denial.json(), status=denial.status, headers=headers)
    return denial.json(), denial.status, headers


def _settle(claims: Claims) -> None:
    if _flask_request() is not None:
        import flask

        flask.g.warden_claims = claims


def _peer(warden: Warden, request: Any) -> str | None:
    """The request's remote address, when ``warden`` forwards it to Warden."""
    if not warden.forward_client_address:
        return None
    return ip_address(getattr(request, "remote_addr", None))  # Werkzeug's (ProxyFix's)


def _takes_claims(view: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(view).parameters
    except (TypeError, ValueError):
        return False
    found = parameters.get("claims")
    return found is not None and found.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def guard(warden: Warden, view: F, requirement: Requirement) -> F:
    """Wraps ``view`` so it runs only for a token that meets ``requirement``."""
    takes_claims = _takes_claims(view)

    def token_of(request: Any) -> tuple[Claims | None, str | None]:
        outer = active.get()
        if outer is not None and outer[0] is request and requirement.action is None:
            return outer[1], None  # an outer guard verified this request already
        return None, bearer(getattr(request, "headers", None))

    def check_of(request: Any, kwargs: Mapping[str, Any]) -> Callable[[], tuple[Any, Any]]:
        def call(function: Any) -> Any:
            return function(request, dict(kwargs))

        def check() -> tuple[Any, Any]:
            return resource_of(requirement, kwargs, call), context_of(requirement, call)

        return check

    def known_claims(known: Claims) -> Claims:
        if known.api_key:  # an outer permission guard took an API key; this one needs a token
            raise Denial(
                401, "invalid_token", "an API key is not accepted here: send an access token"
            )
        denial = requirement.role_denial(known)
        if denial is not None:
            raise denial
        return known

    def enter(request: Any, claims: Claims, kwargs: dict[str, Any]) -> Any:
        _settle(claims)
        if takes_claims:
            kwargs["claims"] = claims
        return active.set((request, claims))

    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _request(args)
            check = check_of(request, kwargs)

            async def acheck() -> tuple[Any, Any]:
                return check()

            try:
                known, token = token_of(request)
                if known is not None:
                    claims = known_claims(known)
                else:
                    claims = await aauthorize(
                        warden, token, requirement, acheck, _peer(warden, request)
                    )
            except Denial as denial:
                return _refusal(warden, denial)
            reset = enter(request, claims, kwargs)
            try:
                return await view(*args, **kwargs)
            finally:
                active.reset(reset)

        return cast(F, async_wrapper)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _request(args)
        try:
            known, token = token_of(request)
            if known is not None:
                claims = known_claims(known)
            else:
                check = check_of(request, kwargs)
                claims = authorize(warden, token, requirement, check, _peer(warden, request))
        except Denial as denial:
            return _refusal(warden, denial)
        reset = enter(request, claims, kwargs)
        try:
            return view(*args, **kwargs)
        finally:
            active.reset(reset)

    return cast(F, wrapper)
