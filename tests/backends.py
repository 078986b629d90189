"""The database back-ends the tests run on: one detection for every suite that needs real engines.

SQLite always runs. PostgreSQL and MariaDB run whenever their port answers on localhost (these
machines start both: PostgreSQL at 127.0.0.1:5432 with trust auth, MariaDB at 127.0.0.1:3306 as
root without a password, each with a database ``test``). A closed port leaves that back-end out
(the store tests skip it with the reason), but an open port whose server then refuses us FAILS
the tests: CI must never skip silently. Set ``FOLLOWTHROUGH_REQUIRE_BACKENDS=postgresql,mariadb``
to fail even on a closed port. ``TEST_POSTGRES_URL`` / ``TEST_MARIADB_URL`` move the servers (a
database the test user can ``CREATE DATABASE`` from).

Two ways to use them:

* the store tests take a throw-away database per back-end (:func:`scratch_database`), dropped
  at the end, and the session's terminal summary says which back-ends they used;
* the user-store, content and data-sync tests use each server's own database as named user
  stores (:func:`backend_urls`: ``local`` SQLite, ``primary`` PostgreSQL, ``analytics``
  MariaDB) with tables unique to the test (:func:`unique_table`, :func:`drop_tables`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

BACKENDS = ("sqlite", "postgresql", "mariadb")
#: Seconds to wait for a server that accepted the TCP connection to answer.
CONNECT_TIMEOUT = 10.0


# --- detection ------------------------------------------------------------------------------
def server_urls(backend: str) -> list[URL]:
    """The URLs to reach ``postgresql`` or ``mariadb`` on this machine, most likely first."""
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


def server_url(backend: str) -> str | None:
    """The server of ``backend`` when its port answers, None when it does not (a failure when
    the back-end is required)."""
    url = server_urls(backend)[0]
    if port_open(url):
        return url.render_as_string(hide_password=False)
    if required(backend):
        pytest.fail(
            f"{backend}: nothing listens on {url.host}:{url.port} (and FOLLOWTHROUGH_REQUIRE_BACKENDS asks for it)"
        )
    return None


# --- the store tests: a throw-away database per back-end ------------------------------------
@dataclass
class BackendReport:
    """What the session did with each back-end, printed in the terminal summary."""

    used: dict[str, str] = field(default_factory=dict)  # backend -> server version
    skipped: dict[str, str] = field(default_factory=dict)  # backend -> reason
    failed: dict[str, str] = field(default_factory=dict)  # backend -> error


REPORT_KEY = pytest.StashKey[BackendReport]()


def report(config: pytest.Config) -> BackendReport:
    return config.stash.setdefault(REPORT_KEY, BackendReport())


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

    admins = server_urls(backend)
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


# --- the user-store tests: named stores on every server, tables unique to the test ---------
def unique_table(prefix: str = "users") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def backend_urls(tmp_path: Path) -> dict[str, str]:
    """name → URL of every back-end this machine has, SQLite first."""
    urls = {"local": f"sqlite+aiosqlite:///{tmp_path / f'local-{uuid.uuid4().hex[:6]}.db'}"}
    if (postgres := server_url("postgresql")) is not None:
        urls["primary"] = postgres
    if (mariadb := server_url("mariadb")) is not None:
        urls["analytics"] = mariadb
    return urls


def require_all_backends() -> None:
    """Skip the test unless PostgreSQL and MariaDB both answer (fail if they are required)."""
    missing = [
        name for backend, name in (("postgresql", "PostgreSQL"), ("mariadb", "MariaDB")) if not server_url(backend)
    ]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not running on this machine (port closed)")


async def drop_tables(urls: dict[str, str], *tables: str) -> None:
    for url in urls.values():
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                for table in tables:
                    await conn.run_sync(lambda sync, t=table: Table(t, MetaData()).drop(sync, checkfirst=True))
        finally:
            await engine.dispose()


async def execute(url: str, sql: str, **params: object) -> list[dict[str, object]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(r) for r in result.mappings()] if result.returns_rows else []
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def tcp_proxy(listen_port: int, target_port: int) -> AsyncIterator[None]:
    """Forward 127.0.0.1:listen_port to 127.0.0.1:target_port while the block runs: a store
    that 'comes back' when the block starts (connections are refused before)."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()
