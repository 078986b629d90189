"""The store back-ends the tests run on, and a throw-away database on each.

SQLite always runs. PostgreSQL and MariaDB run whenever their port answers on localhost
(these machines start both); a closed port skips that back-end with the reason, but an open
port whose server then refuses us FAILS the tests: CI must never skip silently. Set
``FOLLOWTHROUGH_REQUIRE_BACKENDS=postgresql,mariadb`` to fail even on a closed port.

Each back-end gets a uniquely named database for the test session, dropped at the end. The
admin URLs (a reachable database the test user can ``CREATE DATABASE`` from) can be moved with
``TEST_POSTGRES_URL`` / ``TEST_MARIADB_URL``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

BACKENDS = ("sqlite", "postgresql", "mariadb")
#: Seconds to wait for a server that accepted the TCP connection to answer.
CONNECT_TIMEOUT = 10.0


@dataclass
class BackendReport:
    """What the session did with each back-end, printed in the terminal summary."""

    used: dict[str, str] = field(default_factory=dict)  # backend -> server version
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> reason
    failed: dict[str, str] = field(default_factory=dict)  # backend -> error


REPORT_KEY = pytest.StashKey[BackendReport]()


def report(config: pytest.Config) -> BackendReport:
    return config.stash.setdefault(REPORT_KEY, BackendReport())


def _admin_urls(backend: str) -> list[URL]:
    if backend == "postgresql":
        if url := os.environ.get("TEST_POSTGRES_URL"):
            return [make_url(url)]
        # trust auth: the role is whoever the server knows; try the usual two
        return [make_url(f"postgresql+asyncpg://{user}@127.0.0.1:5432/test") for user in ("postgres", "root")]
    if url := os.environ.get("TEST_MARIADB_URL"):
        return [make_url(url)]
    return [make_url("mysql+asyncmy://root:@127.0.0.1:3306/test")]


def port_open(url: URL, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 0), timeout=timeout):
            return True
    except OSError:
        return False


def required(backend: str) -> bool:
    wanted = os.environ.get("FOLLOWTHROUGH_REQUIRE_BACKENDS", "")
    return backend in {name.strip() for name in wanted.split(",")}


@asynccontextmanager
async def scratch_database(backend: str, tmp_path: Path, config: pytest.Config) -> AsyncIterator[str]:
    """An async SQLAlchemy URL of an empty database that is dropped afterwards (skips or fails
    as the module docstring says)."""
    rep = report(config)
    if backend == "sqlite":
        import sqlite3

        rep.used["sqlite"] = f"SQLite {sqlite3.sqlite_version}"
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return

    admins = _admin_urls(backend)
    if not port_open(admins[0]):
        reason = f"{backend}: nothing listens on {admins[0].host}:{admins[0].port}"
        if required(backend):
            rep.failed[backend] = reason
            pytest.fail(f"{reason} (and FOLLOWTHROUGH_REQUIRE_BACKENDS asks for it)")
        rep.skipped[backend] = reason
        pytest.skip(reason)

    name = f"ft_test_{uuid.uuid4().hex[:12]}"
    errors = []
    for admin in admins:
        timeout = {"timeout": CONNECT_TIMEOUT} if backend == "postgresql" else {"connect_timeout": CONNECT_TIMEOUT}
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT", connect_args=timeout)
        try:
            async with engine.connect() as conn:
                version = str(await conn.scalar(text("SELECT version()")))
                await conn.execute(text(f"CREATE DATABASE {name}"))
        except Exception as exc:  # an open port that refuses us is a failure, not a skip
            errors.append(f"{admin.render_as_string(hide_password=True)}: {type(exc).__name__}: {exc}")
            continue
        finally:
            await engine.dispose()
        rep.used[backend] = version.split(" on ")[0].split(",")[0][:60]
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    drop = f"DROP DATABASE IF EXISTS {name}"
                    await conn.execute(text(drop + (" WITH (FORCE)" if backend == "postgresql" else "")))
            finally:
                await engine.dispose()
        return
    rep.failed[backend] = "; ".join(errors)
    pytest.fail(f"{backend} answers on its port but cannot be used: {'; '.join(errors)}")
