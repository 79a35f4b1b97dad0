"""Where guarded code finds the verified claims of the request it is serving."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from .claims import Claims

# The request object being served and its verified claims, set by a guard for the duration
# of the call it wraps; nested guards on the same request reuse them instead of verifying again.
active: ContextVar[tuple[Any, Claims] | None] = ContextVar("warden_claims", default=None)


def current_claims() -> Claims:
    """The verified claims of the request being served by a guarded handler.

    Works in every guarded handler (Flask view, cloud function, Thrift method) and whatever it
    calls, threads and tasks started with a copy of the context included. Raises
    ``LookupError`` outside a guarded call.
    """
    found = active.get()
    if found is None:
        raise LookupError("no verified Warden token in this context; guard the handler first")
    return found[1]
