"""Warden's Python client: verify Warden access tokens offline, ask Warden for decisions, and
guard Flask views, cloud functions, FastAPI routes and Thrift handlers.

>>> from warden_client import Warden
>>> warden = Warden("http://127.0.0.1:8080", audience="warden")
>>> @warden.roles_required("admin")
... def handler(request): ...

Flask and FastAPI are imported only by the guards that need them, thriftpy2 never: the core
(verification and decisions) depends on PyJWT and httpx alone.
"""

from .claims import Claims
from .client import Warden
from .context import current_claims
from .errors import CheckError, TokenError, TokenReason, WardenError, WardenUnavailableError
from .thrift import thrift_headers

__version__ = "0.1.0"
"""The version of this package."""

__all__ = [
    "CheckError",
    "Claims",
    "TokenError",
    "TokenReason",
    "Warden",
    "WardenError",
    "WardenUnavailableError",
    "__version__",
    "current_claims",
    "thrift_headers",
]
