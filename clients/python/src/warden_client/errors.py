"""The exceptions of the client: a refused token, an unreachable Warden, a refused request."""

from __future__ import annotations

from typing import Literal

TokenReason = Literal[
    "malformed",
    "algorithm",
    "type",
    "unknown_key",
    "signature",
    "expired",
    "premature",
    "claims",
    "revoked",
    "account",
    "rejected",
]
"""Why a token was refused; the value of :attr:`TokenError.reason`.

``account``: the token (or API key) acts in another account than the one the
:class:`~warden_client.Warden` is pinned to; ``rejected``: Warden itself refused it in a check.
"""


class WardenError(Exception):
    """Base class of every exception this package raises."""


class TokenError(WardenError):
    """The access token was refused: answer 401 with ``error="invalid_token"``.

    :attr:`reason` names the check that failed (see :data:`TokenReason`); the message is safe to
    show to the caller.
    """

    def __init__(self, reason: TokenReason, message: str) -> None:
        super().__init__(message)
        self.reason: TokenReason = reason
        """The check that failed."""


class WardenUnavailableError(WardenError):
    """Warden could not be reached, or answered with a server error.

    Raised when no signing key has ever been fetched, or when a decision could not be asked.
    Guards answer 503: they fail closed.
    """


class CheckError(WardenError):
    """Warden refused a decision request as malformed (a 4xx other than 401): a bug in the caller.

    :attr:`status` is the HTTP status and :attr:`detail` Warden's explanation.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Warden refused the check ({status}): {detail}")
        self.status = status
        """The HTTP status Warden answered."""
        self.detail = detail
        """What Warden says to fix."""
