"""Migrations on every back-end: they build exactly the models' schema, once, from code."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from followthrough.config import load_settings
from followthrough.serve import prepare_store
from followthrough.store import Database
from followthrough.store.migrate import (
    BASE_REVISION,
    alembic_config,
    current,
    downgrade,
    heads,
    missing_heads,
    upgrade,
)
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


async def test_worker_and_api_refuse_a_shared_store_this_release_has_not_migrated(
    empty_db_url: str, tmp_path: Path
) -> None:
    settings = load_settings(followthrough_home=tmp_path, database_url=empty_db_url)
    with pytest.raises(SystemExit, match=r"never migrated; this release needs .*0009.*followthrough db upgrade"):
        await prepare_store(settings, always=False)
    assert await current(empty_db_url) == ()  # only `db upgrade` (or `dev`) migrates a shared store

    await upgrade(empty_db_url, "0005_api_keys")  # an older release's schema: one branch of several
    with pytest.raises(SystemExit, match="at 0005_api_keys; this release needs 0002_lead_memory") as refused:
        await prepare_store(settings, always=False)
    assert "0005_api_keys," not in str(refused.value).split("needs", 1)[1]  # the head it has is not asked for

    await upgrade(empty_db_url)
    await prepare_store(settings, always=False)  # up to date: starts


def test_a_revision_from_a_newer_release_is_not_missing_anything() -> None:
    # migrations only add, so a store a newer release migrated serves this one (rolling deploys)
    assert missing_heads(("0099_from_a_newer_release",)) == ()
    assert missing_heads(heads()) == ()
    assert missing_heads(("0005_api_keys",)) == tuple(head for head in heads() if head != "0005_api_keys")


async def test_an_unreachable_store_is_not_checked_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none"
    settings = load_settings(followthrough_home=tmp_path, database_url=url)
    with caplog.at_level(logging.WARNING, logger="followthrough"):
        await prepare_store(settings, always=False)  # starts, answers 503 until the store is back
    assert "store unreachable at start" in caplog.text
