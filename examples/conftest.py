"""Fixtures shared by every example's tests: a live Warden per test module, its super admin's
API, its public keys, and a clock that can jump past a token's expiry."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import time_machine

from _testkit import server
from _testkit.api import Api


@pytest.fixture(scope="module")
def warden_settings() -> dict[str, str]:
    """Extra WARDEN_* settings for this module's Warden; a test module overrides it."""
    return {}


@pytest.fixture(scope="module")
def warden(request: pytest.FixtureRequest, warden_settings: dict[str, str]) -> Iterator[server.WardenServer]:
    failed_before = request.session.testsfailed
    started = server.start(**warden_settings)
    yield started
    if request.session.testsfailed > failed_before:  # Warden's side of the story
        sys.__stderr__.write(f"\n--- warden log ({started.base}) ---\n{started.log[-4000:]}\n")
    server.remove(started)


@pytest.fixture(scope="module")
def admin(warden: server.WardenServer) -> Api:
    """The super admin's view of the REST API."""
    return Api(warden.base)


@pytest.fixture(scope="module")
def jwks(warden: server.WardenServer) -> dict[str, Any]:
    return httpx.get(warden.base + "/.well-known/jwks.json").json()


@pytest.fixture
def after_expiry() -> Iterator[None]:
    """Inside it, the clock reads one hour later: every access token issued before has expired."""
    with time_machine.travel(time.time() + 3600, tick=True):
        yield
