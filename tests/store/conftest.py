"""Store fixtures, each parametrized over SQLite, PostgreSQL and MariaDB (see ``tests/backends.py``).

* ``db_url`` — a database migrated to the shipped heads, one per back-end for the session;
* ``database`` — a :class:`Database` on it (tests use fresh ids, so they never collide);
* ``empty_db_url`` — a fresh, never-migrated database per test, for the migration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from followthrough.store import Database
from followthrough.store.migrate import upgrade
from tests.backends import BACKENDS, report, scratch_database


@pytest.fixture(scope="session", params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    backend = request.param
    async with scratch_database(backend, tmp_path_factory.mktemp(f"store-{backend}"), request.config) as url:
        try:
            await upgrade(url)
        except Exception as exc:
            report(request.config).failed[backend] = f"migration failed: {exc}"
            raise
        yield url


@pytest.fixture(scope="session")
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(params=BACKENDS)
async def empty_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    backend = request.param
    async with scratch_database(backend, tmp_path_factory.mktemp(f"empty-{backend}"), request.config) as url:
        yield url
