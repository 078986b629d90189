"""DataSyncWorkflow on the time-skipping server, over real stores: SQLite as the source,
PostgreSQL and MariaDB as targets when this machine has them (another SQLite file if not)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.config import Settings
from followthrough.processes.data_sync.activities import DataSyncActivities
from followthrough.processes.data_sync.rules import AdvanceWatermarkInput, DataSyncInput, Watermark, canonical_row
from followthrough.processes.data_sync.workflow import DataSyncWorkflow
from followthrough.providers.user_stores import users_table
from followthrough.services import Services
from followthrough.store.repositories.sync import QUARANTINE, WATERMARKS
from tests.backends import backend_urls, drop_tables, unique_table

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Stores:
    """A source and its targets, each with a users table unique to the test."""

    def __init__(self, urls: dict[str, str], table: str) -> None:
        self.urls, self.table = urls, table
        self.source, *self.targets = list(urls)

    async def create(self) -> None:
        for url in self.urls.values():
            engine = create_async_engine(url, poolclass=NullPool)
            async with engine.begin() as conn:
                await conn.run_sync(users_table(self.table).metadata.create_all)
            await engine.dispose()

    async def write(self, *rows: dict[str, Any]) -> None:
        """Insert or update rows in the source (a row's ``updated_at`` is its change time)."""
        table = users_table(self.table)
        engine = create_async_engine(self.urls[self.source], poolclass=NullPool)
        async with engine.begin() as conn:
            for row in rows:
                await conn.execute(table.delete().where(table.c.id == row["id"]))
                await conn.execute(table.insert().values(created_at=T0, **row))
        await engine.dispose()

    async def rows(self, store: str) -> list[dict[str, Any]]:
        table = users_table(self.table)
        engine = create_async_engine(self.urls[store], poolclass=NullPool)
        async with engine.connect() as conn:
            found = [
                canonical_row(dict(r)) for r in (await conn.execute(select(table).order_by(table.c.id))).mappings()
            ]
        await engine.dispose()
        return found

    def spec(self) -> str:
        return ",".join(f"{name}={url}" for name, url in self.urls.items())


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    urls = backend_urls(tmp_path)
    if len(urls) == 1:
        urls["replica"] = f"sqlite+aiosqlite:///{tmp_path / 'replica.db'}"
    s = Stores(urls, unique_table())
    await s.create()
    try:
        yield s
    finally:
        await drop_tables(urls, s.table)


def _services(base: Services, make_settings: Callable[..., Settings], stores: Stores) -> Services:
    settings = make_settings(
        user_stores=stores.spec(),
        user_stores_table=stores.table,
        data_sync_table=stores.table,
        data_sync_source=stores.source,
    )
    return Services(settings=settings, database=base.database)


def _user(n: int, *, email: str | None = None, minutes: int | None = None) -> dict[str, Any]:
    return {
        "id": f"u{n:03d}",
        "email": f"user{n}@example.com" if email is None else email,
        "name": f"User {n}",
        "updated_at": T0 + timedelta(minutes=n if minutes is None else minutes),
    }


async def _run(env: WorkflowEnvironment, acts: list[Any], input: DataSyncInput) -> Any:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=tq, workflows=[DataSyncWorkflow], activities=acts):
        return await env.client.execute_workflow(
            DataSyncWorkflow.run, input, id=f"data-sync-{uuid.uuid4()}", task_queue=tq
        )


async def test_syncs_valid_rows_to_every_target_and_quarantines_bad_ones_with_reasons(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Stores
) -> None:
    await stores.write(*(_user(n) for n in range(1, 7)), _user(7, email="not-an-email"), _user(8, email=""))
    svc = _services(services, make_settings, stores)
    sync_name = f"sync-{uuid.uuid4().hex[:8]}"

    result = await _run(
        ts_env, activity_methods(DataSyncActivities(svc)), DataSyncInput(sync_name=sync_name, batch_size=3)
    )

    assert result.targets == stores.targets
    assert (result.totals.rows_seen, result.totals.rows_synced, result.totals.quarantined) == (8, 6, 2)
    assert result.totals.pages == 3 and result.watermark.key == "u008"
    good = [r for r in await stores.rows(stores.source) if r["id"] not in ("u007", "u008")]
    for target in stores.targets:
        assert await stores.rows(target) == good, target
    async with services.database.engine.connect() as conn:
        query = select(QUARANTINE.c.row_key, QUARANTINE.c.reason).where(QUARANTINE.c.sync_name == sync_name)
        quarantined = sorted((await conn.execute(query)).all())
    assert quarantined == [("u007", "email: is not an email address"), ("u008", "email: is required")]


async def test_a_long_catch_up_continues_as_new_and_a_second_run_only_takes_new_changes(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    urls = {name: f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}" for name in ("primary", "replica")}
    stores = Stores(urls, unique_table())
    await stores.create()
    await stores.write(*(_user(n) for n in range(1, 8)))
    acts = activity_methods(DataSyncActivities(_services(services, make_settings, stores)))
    sync_name = f"sync-{uuid.uuid4().hex[:8]}"

    first = await _run(ts_env, acts, DataSyncInput(sync_name=sync_name, batch_size=2, pages_per_run=1))
    assert first.totals.runs == 4 and first.totals.rows_synced == 7

    await stores.write(_user(3, email="changed@example.com", minutes=100), _user(9, minutes=101))
    second = await _run(ts_env, acts, DataSyncInput(sync_name=sync_name, batch_size=2))
    assert second.totals.rows_seen == 2 and second.watermark.key == "u009"
    assert await stores.rows("replica") == await stores.rows("primary")


async def test_a_crash_between_upsert_and_watermark_resyncs_without_duplicates(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Stores
) -> None:
    await stores.write(*(_user(n) for n in range(1, 6)))
    real = DataSyncActivities(_services(services, make_settings, stores))
    sync_name = f"sync-{uuid.uuid4().hex[:8]}"
    reached = asyncio.Event()

    @activity.defn(name="data_sync.advance_watermark")
    async def crash_before_watermark(input: AdvanceWatermarkInput) -> Watermark:
        reached.set()
        await asyncio.Event().wait()  # the worker dies here: the watermark is never written
        raise AssertionError("unreachable")

    crashing = [m for m in activity_methods(real) if m.__name__ != "advance_watermark"] + [crash_before_watermark]
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[DataSyncWorkflow], activities=crashing):
        handle = await ts_env.client.start_workflow(
            DataSyncWorkflow.run, DataSyncInput(sync_name=sync_name), id=f"data-sync-{uuid.uuid4()}", task_queue=tq
        )
        await asyncio.wait_for(reached.wait(), 30)
        await handle.terminate("worker crashed")
    for target in stores.targets:  # the page was upserted…
        assert len(await stores.rows(target)) == 5
    async with services.database.engine.connect() as conn:  # …but the watermark did not move
        assert (await conn.execute(select(WATERMARKS).where(WATERMARKS.c.sync_name == sync_name))).first() is None

    await stores.write(_user(2, email="moved@example.com", minutes=50), _user(6, minutes=51))
    result = await _run(ts_env, activity_methods(real), DataSyncInput(sync_name=sync_name))

    assert result.totals.rows_seen == 6 and result.watermark.key == "u006"
    source = await stores.rows(stores.source)
    for target in stores.targets:
        assert await stores.rows(target) == source, target
        engine = create_async_engine(stores.urls[target], poolclass=NullPool)
        table = users_table(stores.table)
        async with engine.connect() as conn:
            count, distinct = (await conn.execute(select(func.count(), func.count(table.c.id.distinct())))).one()
        await engine.dispose()
        assert count == distinct == 6


async def test_an_unknown_target_store_fails_fast_with_a_clear_error(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Stores
) -> None:
    from temporalio.client import WorkflowFailureError

    acts = activity_methods(DataSyncActivities(_services(services, make_settings, stores)))
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(ts_env, acts, DataSyncInput(targets=["nowhere"]))
    assert "unknown store 'nowhere'" in str(failed.value.cause.cause)


async def test_the_default_settings_sync_the_app_database_into_the_replica(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    """USER_STORES and DATA_SYNC_* unset (the embedded stack): ``local`` → ``replica``, the
    users table created where missing."""
    settings = services.settings
    local = Stores({"local": settings.effective_database_url}, settings.user_stores_table)
    await local.create()
    await local.write(*(_user(n) for n in range(1, 4)))

    result = await _run(ts_env, activity_methods(DataSyncActivities(services)), DataSyncInput())

    assert (result.source, result.targets, result.totals.rows_synced) == ("local", ["replica"], 3)
    replica = f"sqlite+aiosqlite:///{settings.home / 'replica.db'}"
    assert await Stores({"replica": replica}, local.table).rows("replica") == await local.rows("local")


async def test_record_history_for_replay(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from tests.record import HISTORIES, save_history

    urls = {name: f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}" for name in ("primary", "replica")}
    stores = Stores(urls, unique_table())
    await stores.create()
    await stores.write(*(_user(n) for n in range(1, 4)), _user(4, email="bad"))
    acts = activity_methods(DataSyncActivities(_services(services, make_settings, stores)))
    path = HISTORIES / "data_sync" / "two_pages_one_quarantined.json"
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[DataSyncWorkflow], activities=acts):
        handle = await ts_env.client.start_workflow(
            DataSyncWorkflow.run, DataSyncInput(batch_size=2), id="data-sync-recorded", task_queue=tq
        )
        assert (await handle.result()).totals.quarantined == 1
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "data_sync", "two_pages_one_quarantined")
    assert path.exists()
