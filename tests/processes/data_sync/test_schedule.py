"""`followthrough schedule …` on the real dev server: the schedule exists, triggers a
DataSyncWorkflow run that syncs, is listed, and is deleted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from followthrough.catalog import activity_methods, build_worker, catalog
from followthrough.config import Settings
from followthrough.processes.data_sync.activities import DataSyncActivities
from followthrough.processes.data_sync.cli import app as schedule_app
from followthrough.processes.data_sync.cli import parse_every
from followthrough.processes.data_sync.rules import DataSyncResult
from followthrough.processes.data_sync.workflow import DataSyncWorkflow
from followthrough.services import Services
from followthrough.temporal import DevServer
from tests.backends import unique_table
from tests.processes.data_sync.test_data_sync import Stores, _user

pytestmark = pytest.mark.devserver


def test_every_accepts_units_and_refuses_nonsense() -> None:
    assert parse_every("5m") == timedelta(minutes=5)
    assert parse_every("30s") == timedelta(seconds=30)
    assert parse_every("1d") == timedelta(days=1)
    for bad in ("0m", "5", "five minutes", "-1h"):
        with pytest.raises(ValueError):
            parse_every(bad)


async def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    result = await asyncio.to_thread(CliRunner().invoke, schedule_app, list(args), env=env, obj=catalog())
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def _listed(env: dict[str, str], schedule_id: str, expected: bool = True) -> bool:
    """Whether `schedule list` shows the id (the list is eventually consistent: wait a little)."""
    for _ in range(30):
        listed = await _cli(env, "list")
        found = schedule_id in [s["schedule_id"] for s in listed["schedules"]]  # type: ignore[union-attr]
        if found == expected:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_data_sync_schedule_exists_triggers_a_sync_and_is_deleted(
    dev_server: DevServer,
    dev_client: Client,
    services: Services,
    make_settings: Callable[..., Settings],
    task_queue: str,
    tmp_path: Path,
) -> None:
    urls = {name: f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}" for name in ("primary", "replica")}
    stores = Stores(urls, unique_table())
    await stores.create()
    await stores.write(*(_user(n) for n in range(1, 4)))
    settings = make_settings(user_stores=stores.spec(), user_stores_table=stores.table, data_sync_table=stores.table)
    svc = Services(settings=settings, database=services.database)
    schedule_id = f"data-sync-{uuid.uuid4().hex[:8]}"
    env = {"TEMPORAL_ADDRESS": dev_server.address, "TEMPORAL_TASK_QUEUE": task_queue}
    sync_input = json.dumps({"sync_name": schedule_id, "targets": ["replica"]})

    created = await _cli(
        env, "create", schedule_id, "--workflow", "DataSyncWorkflow", "--every", "5m", "-i", sync_input
    )
    assert created["created"] and created["every_seconds"] == 300 and created["workflow"] == "DataSyncWorkflow"
    again = await _cli(
        env,
        "create",
        schedule_id,
        "--workflow",
        "DataSyncWorkflow",
        "--every",
        "10m",
        "-i",
        sync_input,
        "--org",
        "acme",
    )
    assert not again["created"] and again["every_seconds"] == 600
    assert await _listed(env, schedule_id)

    worker = build_worker(
        dev_client,
        svc,
        task_queue=task_queue,
        workflows=[DataSyncWorkflow],
        activities=activity_methods(DataSyncActivities(svc)),
    )
    async with worker:
        await _cli(env, "trigger", schedule_id)
        handle = dev_client.get_schedule_handle(schedule_id)
        for _ in range(100):
            desc = await handle.describe()
            if desc.info.recent_actions:
                break
            await asyncio.sleep(0.1)
        run_id = desc.info.recent_actions[0].action.workflow_id  # type: ignore[attr-defined]
        assert run_id.startswith(schedule_id)
        result = await dev_client.get_workflow_handle(run_id, result_type=DataSyncResult).result()
        described = await dev_client.get_workflow_handle(run_id).describe()
        assert {p.key.name: p.value for p in described.typed_search_attributes}["OrganizationId"] == "acme"
    assert result.totals.rows_synced == 3
    assert await stores.rows("replica") == await stores.rows("primary")

    await _cli(env, "delete", schedule_id)
    assert not await _listed(env, schedule_id, expected=False)


async def test_the_readme_command_creates_a_data_sync_schedule_whose_run_succeeds_on_the_defaults(
    dev_server: DevServer, dev_client: Client, services: Services, task_queue: str
) -> None:
    """`followthrough schedule create data-sync --every 5m`, exactly as the README gives it, on
    settings left at their defaults (USER_STORES, DATA_SYNC_* unset): the run syncs ``local``
    into ``replica`` instead of failing on a store that does not exist."""
    env = {"TEMPORAL_ADDRESS": dev_server.address, "TEMPORAL_TASK_QUEUE": task_queue}
    created = await _cli(env, "create", "data-sync", "--every", "5m")
    try:
        assert created["workflow"] == "DataSyncWorkflow" and created["every_seconds"] == 300
        worker = build_worker(
            dev_client,
            services,
            task_queue=task_queue,
            workflows=[DataSyncWorkflow],
            activities=activity_methods(DataSyncActivities(services)),
        )
        async with worker:
            await _cli(env, "trigger", "data-sync")
            handle = dev_client.get_schedule_handle("data-sync")
            for _ in range(100):
                desc = await handle.describe()
                if desc.info.recent_actions:
                    break
                await asyncio.sleep(0.1)
            run_id = desc.info.recent_actions[0].action.workflow_id  # type: ignore[attr-defined]
            result = await dev_client.get_workflow_handle(run_id, result_type=DataSyncResult).result()
        assert (result.source, result.targets) == ("local", ["replica"])
    finally:
        await _cli(env, "delete", "data-sync")
