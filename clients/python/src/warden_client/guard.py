"""What every guard does, whatever the framework: find the bearer token, verify it, check the
required roles or ask Warden for the permission, and describe a refusal (RFC 6750).

The framework adapters (:mod:`.web`, :mod:`.asgi`, :mod:`.thrift`) only say where the token and
the resource come from and how a :class:`Denial` becomes a response or an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .claims import Claims
from .decisions import BEARER_TOKEN, default_resource, is_api_key
from .errors import TokenError, WardenUnavailableError

if TYPE_CHECKING:
    from .client import Warden


@dataclass(eq=False)
class Denial(Exception):  # noqa: N818 - a refusal, not an error of the program
    """A request refused: ``status`` 401, 403 or 503, the RFC 6750 ``error`` code and why.

    ``error`` is ``None`` for a request that carried no token at all (a bare challenge).
    """

    status: int
    """401, 403 or 503."""
    error: str | None
    """``invalid_token``, ``invalid_request``, ``insufficient_scope``, ``temporarily_unavailable``
    or ``None``."""
    description: str
    """What went wrong, safe to show to the caller."""

    def __str__(self) -> str:
        return self.description

    def challenge(self, realm: str) -> str:
        """The ``WWW-Authenticate`` value for this refusal."""
        if self.error is None or self.status == 503:
            return f'Bearer realm="{realm}"'
        text = re.sub(r"[\x00-\x1f\x7f]", " ", self.description)
        text = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{text}"'

    def headers(self, realm: str) -> dict[str, str]:
        """The response headers: the challenge (401 and 403) and the content type."""
        headers = {"Content-Type": "application/problem+json", "Cache-Control": "no-store"}
        if self.status in (401, 403):
            headers["WWW-Authenticate"] = self.challenge(realm)
        return headers

    def body(self) -> dict[str, Any]:
        """An RFC 9457 problem document, as Warden answers, with the OAuth ``error`` member."""
        slug, title = {
            401: ("unauthenticated", "Unauthorized"),
            403: ("forbidden", "Forbidden"),
        }.get(self.status, ("unavailable", "Service Unavailable"))
        document: dict[str, Any] = {
            "type": f"/problems/{slug}",
            "title": title,
            "status": self.status,
            "detail": self.description,
        }
        if self.error is not None:
            document["error"] = self.error
        return document

    def json(self) -> str:
        """:meth:`body` serialized."""
        return json.dumps(self.body())


def no_token() -> Denial:
    """The refusal of a request that carried no bearer token."""
    return Denial(401, None, "this endpoint needs a bearer access token")


def bearer(headers: Any) -> str | None:
    """The bearer token of an ``Authorization`` header, ``None`` when there is none.

    ``headers`` is any mapping-like object (Werkzeug, Starlette, a dict in any case). Another
    scheme counts as no token; a malformed bearer credential is refused with 401.
    """
    value = _header(headers, "authorization")
    if value is None:
        return None
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    credential = credential.strip()
    if not BEARER_TOKEN.fullmatch(credential):
        raise Denial(401, "invalid_request", "the Authorization header is not `Bearer <token>`")
    return credential


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is not None:
        for spelling in (name, name.title(), name.upper()):
            found = getter(spelling)
            if isinstance(found, str):
                return found
    items = getattr(headers, "items", None)
    if items is not None:
        for key, found in items():
            if isinstance(key, str) and key.lower() == name and isinstance(found, str):
                return found
    return None


ResourceSpec = Mapping[str, Any] | str | Callable[..., Any] | None
"""How a guard finds the resource of a permission check: a mapping used as it is, a resource
type whose id is a named argument of the handler, or a function building it."""


@dataclass(frozen=True)
class Requirement:
    """What a guard requires beyond a valid token: roles, or a permission Warden decides."""

    roles: tuple[str, ...] = ()
    """Role names the token must carry."""
    any_of: bool = False
    """One of :attr:`roles` suffices (otherwise every one is needed)."""
    action: str | None = None
    """A permission (``documents:edit``) to ask Warden about, through ``POST /v1/check``."""
    resource: ResourceSpec = None
    """The resource of the check (see :data:`ResourceSpec`)."""
    resource_id: str = "id"
    """With a resource type: the handler argument holding the resource id."""
    context: Mapping[str, Any] | Callable[..., Any] | None = None
    """The check's context: a mapping, or a function building it."""

    def role_denial(self, claims: Claims) -> Denial | None:
        """The refusal when the token lacks the roles, else ``None``."""
        if not self.roles or claims.has_roles(*self.roles, any_of=self.any_of):
            return None
        names = ", ".join(f"`{role}`" for role in self.roles)
        quantifier = "one of the roles" if self.any_of and len(self.roles) > 1 else "the role"
        if not self.any_of and len(self.roles) > 1:
            quantifier = "the roles"
        return Denial(403, "insufficient_scope", f"this needs {quantifier} {names}")

    def permission_denial(self) -> Denial:
        """The refusal when Warden denies :attr:`action`."""
        return Denial(403, "insufficient_scope", f"this needs the permission `{self.action}`")


def _is_function(spec: Any) -> bool:
    return callable(spec) and not isinstance(spec, (str, Mapping))


def resource_of(
    requirement: Requirement, arguments: Mapping[str, Any], call: Callable[[Any], Any]
) -> Any:
    """The resource for the check, from the spec: ``call(spec)`` runs a function spec the way
    its framework passes arguments, ``arguments`` hold the id of a resource-type spec.
    """
    spec = requirement.resource
    if _is_function(spec):
        built = call(spec)
        return default_resource(requirement.action or "") if built is None else built
    if spec is None:
        return default_resource(requirement.action or "")
    if isinstance(spec, str):
        if requirement.resource_id not in arguments:
            raise LookupError(
                f"the resource id argument `{requirement.resource_id}` is not among the "
                f"handler's arguments ({', '.join(sorted(arguments)) or 'none'})"
            )
        return {"type": spec, "id": str(arguments[requirement.resource_id])}
    return spec


def context_of(requirement: Requirement, call: Callable[[Any], Any]) -> Any:
    """The context for the check: the mapping, or what ``call`` makes of a function spec."""
    spec = requirement.context
    if _is_function(spec):
        built = call(spec)
        return {} if built is None else built
    return {} if spec is None else spec


@contextmanager
def refusals() -> Iterator[None]:
    """Turns the client's errors into refusals: 401 for a token, 503 when Warden is away."""
    try:
        yield
    except TokenError as err:
        raise Denial(401, "invalid_token", str(err)) from err
    except WardenUnavailableError as err:
        raise Denial(503, "temporarily_unavailable", "Warden cannot be reached") from err


def _api_key_action(requirement: Requirement, token: str) -> str | None:
    """The action to ask Warden about when ``token`` is an API key this guard accepts.

    Only a permission guard (an action, no roles) takes API keys: Warden authenticates the
    key in the check itself. Role guards need a token's ``roles``: a key's are not readable.
    """
    if requirement.action is None or requirement.roles or not is_api_key(token):
        return None
    return requirement.action


def authorize(
    warden: Warden,
    token: str | None,
    requirement: Requirement,
    check: Callable[[], tuple[Any, Any]],
    forwarded_for: str | None = None,
) -> Claims:
    """Verifies ``token`` and checks ``requirement``; raises :class:`Denial` on refusal.

    ``check`` gives the resource and context of a permission check; it is called only when
    the requirement names an action. ``forwarded_for`` goes to Warden with the check.
    """
    if token is None:
        raise no_token()
    with refusals():
        key_action = _api_key_action(requirement, token)
        if key_action is not None:
            resource, context = check()
            if not warden.allowed(
                token, key_action, resource, context, forwarded_for=forwarded_for
            ):
                raise requirement.permission_denial()
            return warden._key_holder(token, forwarded_for)
        claims = warden.verify(token)
        denial = requirement.role_denial(claims)
        if denial is not None:
            raise denial
        if requirement.action is not None:
            resource, context = check()
            allowed = warden.allowed(
                token, requirement.action, resource, context, forwarded_for=forwarded_for
            )
            if not allowed:
                raise requirement.permission_denial()
        return claims


async def aauthorize(
    warden: Warden,
    token: str | None,
    requirement: Requirement,
    check: Callable[[], Awaitable[tuple[Any, Any]]],
    forwarded_for: str | None = None,
) -> Claims:
    """:func:`authorize` without blocking the event loop."""
    if token is None:
        raise no_token()
    with refusals():
        key_action = _api_key_action(requirement, token)
        if key_action is not None:
            resource, context = await check()
            allowed = await warden.aallowed(
                token, key_action, resource, context, forwarded_for=forwarded_for
            )
            if not allowed:
                raise requirement.permission_denial()
            return await warden._akey_holder(token, forwarded_for)
        claims = await warden.averify(token)
        denial = requirement.role_denial(claims)
        if denial is not None:
            raise denial
        if requirement.action is not None:
            resource, context = await check()
            allowed = await warden.aallowed(
                token, requirement.action, resource, context, forwarded_for=forwarded_for
            )
            if not allowed:
                raise requirement.permission_denial()
        return claims
