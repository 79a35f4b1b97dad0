"""Guards for Thrift handler methods (thriftpy2 or Apache Thrift: both call plain methods).

The token is a method argument (``token`` by default), as Thrift IDLs commonly carry it; a
transport that carries headers can instead bind them for the call with
:func:`thrift_headers`. A refusal raises the Thrift exception the IDL declares, so the
caller receives a typed error rather than a transport failure.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .context import active
from .guard import Denial, Requirement, authorize, bearer, context_of, resource_of

if TYPE_CHECKING:
    from .client import Warden

F = TypeVar("F", bound=Callable[..., Any])

_headers: ContextVar[Mapping[str, str] | None] = ContextVar("warden_thrift_headers", default=None)

_STATUS_FIELDS = ("code", "status", "status_code")
_ERROR_FIELDS = ("error", "error_code")
_MESSAGE_FIELDS = ("message", "detail", "description", "reason", "msg")


@contextmanager
def thrift_headers(headers: Mapping[str, str]) -> Iterator[None]:
    """Binds a call's transport headers so guarded methods read ``Authorization`` from them.

    Use it where your transport has the request's headers (an HTTP server, a header
    protocol), around the processor's call:
    ``with thrift_headers(request.headers): processor.process(iprot, oprot)``.
    """
    reset = _headers.set(headers)
    try:
        yield
    finally:
        _headers.reset(reset)


def _fields(exception: Any) -> set[str]:
    spec = getattr(exception, "thrift_spec", None)
    if isinstance(spec, dict):
        return {str(entry[1]) for entry in spec.values() if len(entry) > 1}
    try:
        return set(inspect.signature(exception).parameters)
    except (TypeError, ValueError):
        return set()


def raise_as(exception: Callable[..., BaseException], denial: Denial) -> BaseException:
    """The caller's exception for ``denial``, its fields filled by name (see ``thrift_guard``)."""
    make: Callable[..., BaseException] = exception
    if not inspect.isclass(exception):
        return make(denial.status, denial.error or "unauthorized", denial.description)
    names = _fields(exception)
    values: dict[str, Any] = {}
    for group, value in (
        (_STATUS_FIELDS, denial.status),
        (_ERROR_FIELDS, denial.error or "unauthorized"),
        (_MESSAGE_FIELDS, denial.description),
    ):
        for name in group:
            if name in names:
                values[name] = value
                break
    if values:
        return make(**values)
    return make(denial.description)


def _token(value: Any) -> str | None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() == "bearer":
        return rest.strip()
    return text


def guard(
    warden: Warden,
    method: F,
    requirement: Requirement,
    exception: Callable[..., BaseException],
    token_arg: str,
) -> F:
    """Wraps a Thrift handler method so it runs only for a token meeting ``requirement``."""
    signature = inspect.signature(method)
    takes_claims = "claims" in signature.parameters

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(*args, **kwargs)
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        try:
            token = _token(arguments.get(token_arg))
            if token is None:
                token = bearer(_headers.get())
            call: Callable[[Any], Any] = lambda function: function(dict(arguments))  # noqa: E731

            def check() -> tuple[Any, Any]:
                return resource_of(requirement, arguments, call), context_of(requirement, call)

            claims = authorize(warden, token, requirement, check)
        except Denial as denial:
            raise raise_as(exception, denial) from None
        if takes_claims:
            kwargs["claims"] = claims
        reset = active.set((None, claims))
        try:
            return method(*args, **kwargs)
        finally:
            active.reset(reset)

    return cast(F, wrapper)
