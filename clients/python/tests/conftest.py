"""Fixtures: one live Warden for the session, a fake issuer per test, fresh clients."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import Forger, Live, fake_issuer, provision, start_warden
from warden_client import Warden


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary = os.environ.get("WARDEN_BIN", "/tmp/warden-bin/warden")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no Warden binary at {binary} (set WARDEN_BIN)", pytrace=False)
    server = start_warden(binary, Path(tmp_path_factory.mktemp("warden")))
    try:
        provision(server)
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture
def warden(live: Live) -> Iterator[Warden]:
    client = Warden(live.base, audience="warden")
    yield client
    client.close()


@pytest.fixture
def forger() -> Iterator[Forger]:
    yield from fake_issuer()


@pytest.fixture(scope="session")
def alice(live: Live) -> str:
    return live.token("alice@acme.io")


@pytest.fixture(scope="session")
def bob(live: Live) -> str:
    return live.token("bob@acme.io")
