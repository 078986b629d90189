"""Migrations on every back-end: they build exactly the models' schema, once, from code."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from followthrough.store import Database
from followthrough.store.migrate import BASE_REVISION, alembic_config, current, downgrade, heads, upgrade
from followthrough.store.models import Base

APP_TABLES = set(Base.metadata.tables)


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.close()


def test_every_head_descends_from_the_base_revision() -> None:
    """Families add revisions branching from the base; none may start a second history."""
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_bases() == [BASE_REVISION]
    for head in heads():
        assert BASE_REVISION in {rev.revision for rev in script.iterate_revisions(head, "base")}


async def test_upgrade_creates_every_table_and_current_reports_the_heads(empty_db_url: str) -> None:
    assert await current(empty_db_url) == ()
    await upgrade(empty_db_url)
    assert await current(empty_db_url) == heads()
    assert APP_TABLES | {"alembic_version"} <= await _tables(empty_db_url)


async def test_upgrade_again_changes_nothing(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    await upgrade(empty_db_url)
    assert await current(empty_db_url) == heads()


async def test_concurrent_upgrades_migrate_once(empty_db_url: str) -> None:
    await asyncio.gather(upgrade(empty_db_url), upgrade(empty_db_url), upgrade(empty_db_url))
    assert await current(empty_db_url) == heads()


async def test_downgrade_to_base_drops_every_table(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    await downgrade(empty_db_url, "base")
    assert await current(empty_db_url) == ()
    assert not (await _tables(empty_db_url)) & APP_TABLES


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_equals_the_models(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to change: the migrations and the models agree
    (types, lengths, nullability, indexes, unique constraints, foreign keys)."""
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            diffs = await conn.run_sync(_diffs)
    finally:
        await db.close()
    assert diffs == []


async def test_sync_tables_made_on_first_use_are_adopted_by_their_revision(empty_db_url: str) -> None:
    """Before ``0003_sync_state`` the data-sync activities created their two tables themselves;
    a database that has them migrates to the heads and ends up exactly like the models."""
    sync_tables = [Base.metadata.tables["sync_watermarks"], Base.metadata.tables["sync_quarantine"]]
    await upgrade(empty_db_url, BASE_REVISION)
    db = Database(empty_db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=sync_tables))
        await upgrade(empty_db_url)
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diffs) == []
    finally:
        await db.close()
    assert await current(empty_db_url) == heads()
