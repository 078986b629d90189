"""Schema migrations, run in code: no ``alembic.ini`` is needed at run time.

:func:`upgrade` brings a database to every head (``upgrade heads``), so a family that needs
more tables can add its own revision branching from :data:`BASE_REVISION` without touching
anyone else's. It holds a lock while it runs (an advisory lock on PostgreSQL, a named lock on
MariaDB, a file lock beside a SQLite file), so any number of processes starting at once
migrate the database exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from followthrough.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
#: The initial revision, creating every table of issue 3. Branch new revisions from here.
BASE_REVISION = "0001_initial"
_LOCK_NAME = "followthrough_migrations"
_LOCK_ID = zlib.crc32(_LOCK_NAME.encode())  # a stable 32-bit key for pg_advisory_lock


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration, built in code (the URL travels in ``attributes``, so a
    password with ``%`` in it needs no escaping)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


def heads() -> tuple[str, ...]:
    """The head revisions shipped with the package."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def missing_heads(revisions: tuple[str, ...]) -> tuple[str, ...]:
    """The shipped heads a database at ``revisions`` has not reached (empty when it is up to date).

    A revision this package does not know was written by a newer release: its schema is ahead
    (migrations only add), so nothing is missing."""
    script = ScriptDirectory.from_config(alembic_config())
    reached: set[str] = set()
    for revision in revisions:
        try:
            reached.update(r.revision for r in script.iterate_revisions(revision, "base"))
        except ResolutionError:
            return ()
    return tuple(head for head in sorted(script.get_heads()) if head not in reached)


async def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` (an async SQLAlchemy URL) to ``revision``."""
    await _run(url, lambda config, connection: command.upgrade(config, revision))


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops every table)."""
    await _run(url, lambda config, connection: command.downgrade(config, revision))


async def current(url: str) -> tuple[str, ...]:
    """The revisions the database is at (empty when it was never migrated)."""
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            revisions = await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
        return tuple(sorted(revisions))
    finally:
        await database.close()


async def _run(url: str, step: Callable[[Config, Connection], object]) -> None:
    config = alembic_config(url)
    database = Database(url)
    try:
        async with _migration_lock(database, url) as connection:

            def run(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                step(config, sync_connection)

            await connection.run_sync(run)
            await connection.commit()
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def _migration_lock(database: Database, url: str) -> AsyncIterator[AsyncConnection]:
    """A connection holding the migrations lock of this database."""
    dialect = database.dialect
    if dialect == "sqlite":
        path = make_url(url).database
        if not path or path == ":memory:":
            async with database.engine.connect() as connection:
                yield connection
            return
        with open(f"{path}.migrate.lock", "w") as lock_file:
            await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
            try:
                async with database.engine.connect() as connection:
                    yield connection
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
        return
    async with database.engine.connect() as connection:
        if dialect == "postgresql":
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_ID})
        elif dialect in ("mysql", "mariadb"):
            await connection.execute(text("SELECT GET_LOCK(:name, 600)"), {"name": _LOCK_NAME})
        await connection.commit()
        try:
            yield connection
        finally:
            await connection.rollback()  # a failed migration leaves PostgreSQL's transaction aborted
            if dialect == "postgresql":
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_ID})
            elif dialect in ("mysql", "mariadb"):
                await connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
            await connection.commit()
