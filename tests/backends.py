"""Real database backends for the user-store, content and data-sync tests.

SQLite always; PostgreSQL (127.0.0.1:5432, user postgres, trust auth, database ``test``) and
MariaDB (127.0.0.1:3306, root without password, database ``test``) when their port is open.
A backend whose port is closed is skipped; one whose port is open but that does not work
fails the test: a broken server must not pass as an absent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from followthrough.temporal.devserver import port_open

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+asyncmy://root@127.0.0.1:3306/test"


def unique_table(prefix: str = "users") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def backend_urls(tmp_path: Path) -> dict[str, str]:
    """name → URL of every backend this machine has, SQLite first."""
    urls = {"local": f"sqlite+aiosqlite:///{tmp_path / f'local-{uuid.uuid4().hex[:6]}.db'}"}
    if port_open("127.0.0.1", 5432):
        urls["primary"] = POSTGRES_URL
    if port_open("127.0.0.1", 3306):
        urls["analytics"] = MARIADB_URL
    return urls


def require_all_backends() -> None:
    missing = [name for name, port in (("PostgreSQL", 5432), ("MariaDB", 3306)) if not port_open("127.0.0.1", port)]
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
