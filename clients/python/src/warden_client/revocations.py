"""Following Warden's revocation feed (``GET /v1/revocations``) in a background thread.

The feed lists ended sessions, each until the last access token it may have issued expires,
so a verifier that knows the list refuses a token of an ended session without a call per
request. Reading it takes a service client's credentials (HTTP Basic): a client of an account
sees that account's endings only, a global client every ending. Warden lists an ending about
two seconds after it happens; with the poll interval, that is how late a revocation lands.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

import httpx

log = logging.getLogger("warden_client")

_PAGE = 1000
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", re.IGNORECASE
)


def epoch(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 date-time; raises ``ValueError`` otherwise."""
    found = _RFC3339.fullmatch(text.strip())
    if not found:
        raise ValueError(f"`{text}` is not an RFC 3339 date-time")
    whole, fraction, offset = found.groups()
    offset = "+00:00" if offset.upper() == "Z" else offset
    moment = datetime.fromisoformat(whole + offset).astimezone(timezone.utc)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


def basic_auth(client_id: str, client_secret: str) -> str:
    """The HTTP Basic header value for client credentials (RFC 6749 §2.3.1 form-encoding)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class RevocationFeed:
    """The ended sessions Warden lists, kept current by a daemon thread.

    ``make_client`` builds the blocking HTTP client the thread uses; an entry is kept ``retain``
    seconds (the verifier's leeway) past its ``expires_at``. The thread starts on
    :meth:`start` (called on the first verification) and again in a forked child.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        interval: float,
        retain: float,
        make_client: Callable[[], httpx.Client],
    ) -> None:
        self._url = issuer.rstrip("/") + "/v1/revocations"
        self._auth = basic_auth(client_id, client_secret)
        self._interval = interval
        self._retain = retain
        self._make_client = make_client
        self._mutex = threading.Lock()
        self._revoked: dict[str, float] = {}
        self._cursor: str | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.polls = 0
        """How many polls have completed successfully (for tests and metrics)."""

    def start(self) -> None:
        """Starts the polling thread unless it runs (idempotent, fork-aware)."""
        with self._mutex:
            if self._pid != os.getpid():
                # A forked child inherits the state but not the thread.
                self._pid, self._thread = os.getpid(), None
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="warden-revocations", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stops the polling thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def wait_ready(self, timeout: float) -> bool:
        """Waits until the first poll has finished (or failed); whether it has."""
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        """Whether the first poll has finished (or failed)."""
        return self._ready.is_set()

    def is_revoked(self, sid: str | None) -> bool:
        """Whether the session ``sid`` is known to have ended."""
        if sid is None:
            return False
        with self._mutex:
            return sid in self._revoked

    def _run(self) -> None:
        with self._make_client() as client:
            while not self._stop.is_set():
                try:
                    self.poll(client)
                except Exception as err:  # noqa: BLE001 - keep the last list, poll again
                    log.warning("warden: reading the revocation feed failed: %s", err)
                finally:
                    self._ready.set()
                self._stop.wait(self._interval)

    def poll(self, client: httpx.Client) -> None:
        """Reads the feed from the last cursor to its end and forgets expired entries."""
        while True:
            params = {"limit": str(_PAGE)}
            if self._cursor is not None:
                params["since"] = self._cursor
            response = client.get(self._url, params=params, headers={"Authorization": self._auth})
            response.raise_for_status()
            page: Any = response.json()
            items = page.get("items") if isinstance(page, dict) else None
            cursor = page.get("next_cursor") if isinstance(page, dict) else None
            if not isinstance(items, list) or not isinstance(cursor, str):
                raise ValueError("the revocation feed answered an unexpected document")
            entries = {
                item["sid"]: epoch(item["expires_at"])
                for item in items
                if isinstance(item, dict)
                and isinstance(item.get("sid"), str)
                and isinstance(item.get("expires_at"), str)
            }
            now = time.time()
            with self._mutex:
                self._revoked.update(entries)
                self._revoked = {s: t for s, t in self._revoked.items() if t + self._retain >= now}
                self._cursor = cursor
            if len(items) < _PAGE:
                break
        self.polls += 1
