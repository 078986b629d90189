"""The back-end fixture itself: a closed port skips, an open port that refuses us fails."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import backends
from tests.backends import REPORT_KEY, scratch_database


def fake_config() -> Any:
    return SimpleNamespace(stash=pytest.Stash())  # keeps the session's real report clean


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_a_closed_port_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEST_POSTGRES_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test")
    monkeypatch.delenv("FOLLOWTHROUGH_REQUIRE_BACKENDS", raising=False)
    config = fake_config()
    with pytest.raises(pytest.skip.Exception, match="nothing listens"):
        async with scratch_database("postgresql", tmp_path, config):
            pass
    assert "postgresql" in config.stash[REPORT_KEY].skipped


async def test_a_required_backend_on_a_closed_port_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEST_MARIADB_URL", f"mysql+asyncmy://root:@127.0.0.1:{closed_port()}/test")
    monkeypatch.setenv("FOLLOWTHROUGH_REQUIRE_BACKENDS", "postgresql,mariadb")
    with pytest.raises(pytest.fail.Exception, match="FOLLOWTHROUGH_REQUIRE_BACKENDS"):
        async with scratch_database("mariadb", tmp_path, fake_config()):
            pass


async def test_an_open_port_that_refuses_us_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:  # a listener that is no PostgreSQL: the connection breaks, which must not pass as a skip
        monkeypatch.setenv("TEST_POSTGRES_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
        monkeypatch.setattr(backends, "CONNECT_TIMEOUT", 0.3)
        config = fake_config()
        with pytest.raises(pytest.fail.Exception, match="answers on its port but cannot be used"):
            async with scratch_database("postgresql", tmp_path, config):
                pass
        assert "postgresql" in config.stash[REPORT_KEY].failed
    finally:
        server.close()
