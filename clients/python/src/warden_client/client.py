"""The :class:`Warden` client: offline token verification, decisions, and the guards."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import httpx

from .apikeys import Holders, holder_claims, holder_request
from .claims import Claims
from .decisions import check_request, decision
from .errors import TokenError, WardenUnavailableError
from .guard import Requirement, ResourceSpec
from .keys import Discovery, Fetched, KeyCache
from .revocations import RevocationFeed
from .verify import Parsed, check_claims, check_signature, parse

if TYPE_CHECKING:
    from .asgi import ClaimsDependency

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Warden"]


class Warden:
    """A Warden issuer, as seen by a service that accepts its access tokens.

    ``Warden(issuer, audience=None)``: ``issuer`` is Warden's issuer URL, exactly as tokens
    carry it in ``iss`` (``http://127.0.0.1:8080`` by default). With ``audience`` (a string,
    or several), a token's ``aud`` must name it; Warden's default audience is ``warden``.

    Keyword options:

    ``account``
        The id of the account (tenant) this service belongs to. A token whose ``acct`` is
        another (or missing) is refused (:class:`~warden_client.TokenError` ``account``), and
        every check names the account, so Warden refuses another account's API keys too.
        Role names are per account: a service that checks roles offline must pin its account,
        or another tenant's own role named ``admin`` passes ``roles_required("admin")``.
    ``forward_client_address``
        The guards send the request's remote address to Warden as ``X-Forwarded-For`` with
        each check, so API-key allow-lists and ``context.ip`` in policies see the end user's
        address. Warden believes it only from an address in its ``WARDEN_TRUSTED_PROXIES``.

    ``leeway``
        Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, seconds (default 30).
    ``follow_revocations``
        Follow ``GET /v1/revocations`` in a background thread, so a token of an ended session
        is refused without a round trip. Needs ``client_id`` and ``client_secret`` of a
        Warden service client (an account's client sees its account's sessions only).
    ``revocation_interval``
        Seconds between two polls of the feed (default 5).
    ``refresh_cooldown``
        Least seconds between two fetches of the key set prompted by an unknown ``kid`` or a
        failure (default 10): random key ids cannot cause a refresh storm.
    ``timeout``
        Seconds for each HTTP request to Warden (default 5).
    ``realm``
        The ``realm`` of ``WWW-Authenticate`` challenges (default ``warden``).
    ``http_client``, ``async_http_client``
        ``httpx`` clients to use instead of the ones this object creates (proxies, TLS
        settings, tests). They are not closed by :meth:`close`.
    ``clock``
        The time source for ``exp``, ``nbf`` and ``iat`` (default ``time.time``), for tests.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str] | None = None,
        *,
        account: str | None = None,
        forward_client_address: bool = False,
        leeway: float = 30.0,
        follow_revocations: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        revocation_interval: float = 5.0,
        refresh_cooldown: float = 10.0,
        timeout: float = 5.0,
        realm: str = "warden",
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer.startswith(("https://", "http://")):
            raise ValueError(f"the issuer `{issuer}` is not an http(s) URL")
        if leeway < 0 or refresh_cooldown < 0 or timeout <= 0 or revocation_interval <= 0:
            raise ValueError("leeway and refresh_cooldown must be >= 0, timeouts > 0")
        if account is not None and (not isinstance(account, str) or not account.strip()):
            raise ValueError("account must be an account id")
        self.issuer = issuer
        """The issuer URL tokens must carry in ``iss``."""
        self.account = account
        """The account id tokens must carry in ``acct``; ``None``: any account."""
        self.forward_client_address = forward_client_address
        """Whether the guards forward the request's remote address to Warden."""
        self.audiences: tuple[str, ...] = (
            ()
            if audience is None
            else (audience,)
            if isinstance(audience, str)
            else tuple(audience)
        )
        """The accepted audiences; empty: ``aud`` is not checked."""
        self.leeway = leeway
        """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, seconds."""
        self.realm = realm
        """The ``realm`` of the challenges the guards send."""
        self.timeout = timeout
        """Seconds for each HTTP request to Warden."""
        self._base = issuer.rstrip("/")
        self._clock = clock
        self._given_client = http_client
        self._given_async_client = async_http_client
        self._client: httpx.Client | None = None
        self._client_pid = os.getpid()
        self._client_lock = threading.Lock()
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, httpx.AsyncClient
        ] = weakref.WeakKeyDictionary()
        discovery = Discovery(issuer)
        self._keys = KeyCache(
            lambda: discovery.fetch(self._http()),
            lambda: self._afetch(discovery),
            cooldown=refresh_cooldown,
            timeout=timeout,
        )
        self._holders = Holders()
        self._feed: RevocationFeed | None = None
        if follow_revocations:
            if not client_id or not client_secret:
                raise ValueError("follow_revocations needs a service client's client_id and secret")
            self._feed = RevocationFeed(
                issuer,
                client_id,
                client_secret,
                interval=revocation_interval,
                retain=leeway,
                make_client=self._new_client,
            )

    # -- HTTP -------------------------------------------------------------------------------

    def _new_client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout, follow_redirects=False)

    def _http(self) -> httpx.Client:
        if self._given_client is not None:
            return self._given_client
        with self._client_lock:
            if self._client is None or self._client_pid != os.getpid():
                # A forked child must not share its parent's connections.
                self._client, self._client_pid = self._new_client(), os.getpid()
            return self._client

    def _ahttp(self) -> httpx.AsyncClient:
        if self._given_async_client is not None:
            return self._given_async_client
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
            self._async_clients[loop] = client
        return client

    async def _afetch(self, discovery: Discovery) -> Fetched:
        return await discovery.afetch(self._ahttp())

    @property
    def key_fetches(self) -> int:
        """How many times the key set was fetched (or its fetch attempted)."""
        return self._keys.fetches

    def close(self) -> None:
        """Stops the revocation thread and closes the HTTP client this object created."""
        if self._feed is not None:
            self._feed.close()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    async def aclose(self) -> None:
        """:meth:`close`, and closes the asynchronous client of the running event loop."""
        self.close()
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # -- verification -----------------------------------------------------------------------

    def _finish(self, parsed: Parsed, key: Any) -> Claims:
        check_signature(parsed, key)
        check_claims(
            parsed.payload,
            issuer=self.issuer,
            audiences=self.audiences,
            leeway=self.leeway,
            now=self._clock(),
        )
        if self.account is not None and parsed.payload.get("acct") != self.account:
            raise TokenError("account", "the token was issued in another account")
        if self._feed is not None and self._feed.is_revoked(parsed.payload.get("sid")):
            raise TokenError("revoked", "the token's session has ended")
        return Claims.from_payload(parsed.payload)

    def verify(self, token: str) -> Claims:
        """Verifies an access token offline and returns its claims.

        Raises :class:`~warden_client.TokenError` when the token is refused (an API key is
        refused too: it has nothing to verify offline), and
        :class:`~warden_client.WardenUnavailableError` when no signing key could ever be
        fetched. Fetches the keys only on first use, on expiry and for an unknown ``kid``.
        """
        parsed = parse(token)
        if self._feed is not None:
            self._feed.start()
            if not self._feed.ready:
                self._feed.wait_ready(self.timeout)
        return self._finish(parsed, self._keys.get(parsed.kid))

    async def averify(self, token: str) -> Claims:
        """:meth:`verify` without blocking the event loop (keys fetched with ``httpx`` async)."""
        parsed = parse(token)
        if self._feed is not None:
            self._feed.start()
            if not self._feed.ready:
                await asyncio.to_thread(self._feed.wait_ready, self.timeout)
        return self._finish(parsed, await self._keys.aget(parsed.kid))

    # -- decisions --------------------------------------------------------------------------

    def allowed(
        self,
        token: str,
        action: str,
        resource: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        forwarded_for: str | None = None,
    ) -> bool:
        """Asks Warden whether the token's subject may do ``action`` on ``resource``.

        Calls ``POST /v1/check`` with ``token`` as the bearer: an access token or a ``wk_…``
        API key, which Warden authenticates itself. ``resource`` is
        ``{"type": ..., "id": ..., "attributes": {...}, "parents": [...]}`` (attributes and
        parents optional; when omitted, one is typed after the action, see
        :func:`~warden_client.decisions.default_resource`); ``context`` is free JSON for Cedar
        policies. ``forwarded_for`` (the end user's address, or a chain) is sent as
        ``X-Forwarded-For``; Warden believes it only when this service's address is among its
        ``WARDEN_TRUSTED_PROXIES``. Raises :class:`~warden_client.TokenError` when the token is
        empty or malformed, when Warden refuses it (an ended session, a revoked key, say) or
        when it acts in another account than :attr:`account`;
        :class:`~warden_client.WardenUnavailableError` when Warden cannot be reached;
        :class:`~warden_client.CheckError` for a malformed request.
        """
        url, body, headers = self._check(token, action, resource, context, forwarded_for)
        try:
            response = self._http().post(url, json=body, headers=headers)
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden cannot be reached: {err}") from err
        return decision(response, pinned=self.account is not None)

    async def aallowed(
        self,
        token: str,
        action: str,
        resource: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        forwarded_for: str | None = None,
    ) -> bool:
        """:meth:`allowed` without blocking the event loop."""
        url, body, headers = self._check(token, action, resource, context, forwarded_for)
        try:
            response = await self._ahttp().post(url, json=body, headers=headers)
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden cannot be reached: {err}") from err
        return decision(response, pinned=self.account is not None)

    def _check(
        self,
        token: str,
        action: str,
        resource: Mapping[str, Any] | None,
        context: Mapping[str, Any] | None,
        forwarded_for: str | None,
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        return check_request(
            self._base,
            token,
            action,
            resource,
            context,
            account=self.account,
            forwarded_for=forwarded_for,
        )

    def _key_holder(self, key: str, forwarded_for: str | None) -> Claims:
        """The claims of an API key that Warden has just allowed (see :mod:`.apikeys`)."""
        known = self._holders.get(key)
        if known is not None:
            return known
        url, headers = holder_request(self._base, key, forwarded_for)
        try:
            response = self._http().get(url, headers=headers)
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden cannot be reached: {err}") from err
        return self._holders.put(key, holder_claims(response, self.issuer, self.account))

    async def _akey_holder(self, key: str, forwarded_for: str | None) -> Claims:
        known = self._holders.get(key)
        if known is not None:
            return known
        url, headers = holder_request(self._base, key, forwarded_for)
        try:
            response = await self._ahttp().get(url, headers=headers)
        except httpx.HTTPError as err:
            raise WardenUnavailableError(f"Warden cannot be reached: {err}") from err
        return self._holders.put(key, holder_claims(response, self.issuer, self.account))

    # -- decorators for Flask views and cloud functions ------------------------------------

    @overload
    def jwt_required(self, view: F) -> F: ...

    @overload
    def jwt_required(self, view: None = None) -> Callable[[F], F]: ...

    def jwt_required(self, view: F | None = None) -> F | Callable[[F], F]:
        """Decorator: the view runs only with a valid bearer access token.

        Use it bare (``@warden.jwt_required``) or called (``@warden.jwt_required()``). Works
        on Flask views and on ``def handler(request)`` cloud functions. The claims are on
        ``flask.g.warden_claims`` (in Flask), from :func:`~warden_client.current_claims`, and
        in a ``claims`` argument when the view declares one. An API key is refused (401): it
        has no claims to verify; guard the view with :meth:`permission_required` to take keys.
        """
        from .web import guard

        if view is None:
            return lambda inner: guard(self, inner, Requirement())
        return guard(self, view, Requirement())

    def roles_required(self, *roles: str, any_of: bool = False) -> Callable[[F], F]:
        """Decorator: the token must carry every one of ``roles`` (one of them with ``any_of``).

        Implies :meth:`jwt_required`; roles come from the token's ``roles`` claim, offline, so
        an API key is refused (401). Role names are per account: pin ``account``.
        """
        from .web import guard

        if not roles:
            raise ValueError("roles_required needs at least one role")
        requirement = Requirement(roles=tuple(roles), any_of=any_of)
        return lambda view: guard(self, view, requirement)

    def permission_required(
        self,
        action: str,
        resource: ResourceSpec = None,
        *,
        resource_id: str = "id",
        context: Mapping[str, Any] | Callable[..., Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorator: Warden must allow ``action`` on the resource (``POST /v1/check``).

        ``resource`` is one of: a mapping (``{"type": "document", "id": "42"}``), used as it
        is; a resource type (``"document"``) whose id is the view's keyword argument named
        ``resource_id`` (default ``id``; Flask's URL variables); or a function
        ``resource(request, kwargs)`` returning the mapping. ``context`` is a mapping or a
        function ``context(request, kwargs)``. Takes an access token (verified offline first)
        or a ``wk_…`` API key (``Authorization: Bearer wk_…``), which Warden authenticates in
        the check; the key's claims have :attr:`~warden_client.Claims.api_key` set.
        """
        from .web import guard

        requirement = Requirement(
            action=action, resource=resource, resource_id=resource_id, context=context
        )
        return lambda view: guard(self, view, requirement)

    # -- FastAPI dependencies ---------------------------------------------------------------

    def claims(self) -> ClaimsDependency:
        """FastAPI dependency: the verified claims (``claims: Claims = Depends(warden.claims())``).

        Answers 401 without a valid token. Declares an HTTP bearer security scheme, so
        ``/docs`` shows the lock and Authorize takes a token.
        """
        from .asgi import dependency

        return dependency(self, Requirement())

    def require_role(self, *roles: str, any_of: bool = False) -> ClaimsDependency:
        """FastAPI dependency: the token must carry every one of ``roles`` (one with ``any_of``).

        Returns the claims; use it as a parameter or in ``dependencies=[Depends(...)]``.
        """
        from .asgi import dependency

        if not roles:
            raise ValueError("require_role needs at least one role")
        return dependency(self, Requirement(roles=tuple(roles), any_of=any_of))

    def require_permission(
        self,
        action: str,
        resource: ResourceSpec = None,
        *,
        resource_id: str = "id",
        context: Mapping[str, Any] | Callable[..., Any] | None = None,
    ) -> ClaimsDependency:
        """FastAPI dependency: Warden must allow ``action`` on the resource.

        ``resource`` is a mapping, a resource type whose id is the path parameter named
        ``resource_id``, or a function (plain or ``async``) taking the Starlette ``Request``.
        ``context`` is a mapping or such a function. Returns the claims. Takes an access
        token or a ``wk_…`` API key, as :meth:`permission_required` does.
        """
        from .asgi import dependency

        requirement = Requirement(
            action=action, resource=resource, resource_id=resource_id, context=context
        )
        return dependency(self, requirement)

    # -- Thrift -----------------------------------------------------------------------------

    def thrift_guard(
        self,
        *,
        exception: Callable[..., BaseException],
        role: str | None = None,
        roles: Sequence[str] = (),
        any_of: bool = False,
        permission: str | None = None,
        resource: ResourceSpec = None,
        resource_id: str = "id",
        context: Mapping[str, Any] | Callable[..., Any] | None = None,
        token_arg: str = "token",  # noqa: S107 - an argument name, not a secret
    ) -> Callable[[F], F]:
        """Decorator for Thrift handler methods: verify the token, check roles or a permission.

        The token is the method argument named ``token_arg`` (a bare token or
        ``Bearer <token>``); when that is absent or empty, the ``Authorization`` header that
        the transport bound with :func:`~warden_client.thrift_headers`. A refusal raises
        ``exception``, the Thrift exception the IDL declares: its fields named ``code`` or
        ``status`` get 401/403/503, ``error`` the RFC 6750 code, ``message``, ``detail`` or
        ``description`` the explanation. A function ``(status, error, message)`` returning an
        exception also works. ``resource`` and ``context`` are as for
        :meth:`permission_required`, with functions taking a dict of the method's arguments
        and the resource id read from those arguments. A guard with a ``permission`` and no
        role takes a ``wk_…`` API key too; one with a role needs an access token.
        """
        from .thrift import guard

        wanted = tuple(roles) + ((role,) if role else ())
        requirement = Requirement(
            roles=wanted,
            any_of=any_of,
            action=permission,
            resource=resource,
            resource_id=resource_id,
            context=context,
        )
        return lambda method: guard(self, method, requirement, exception, token_arg)
