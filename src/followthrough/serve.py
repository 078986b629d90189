"""The long-running processes: `dev` (server + worker + API), `worker` and `api`.

Each runs in one asyncio loop and stops cleanly on SIGINT or SIGTERM: the API stops taking
requests, the worker finishes or hands back its in-flight tasks, the dev server flushes its
SQLite file. Running `dev` again resumes every workflow that was running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Callable, Iterator

import uvicorn
from temporalio.client import Client

from followthrough import tracing
from followthrough.catalog import build_worker, create_app
from followthrough.config import Settings
from followthrough.metrics import start_exporter
from followthrough.services import Services
from followthrough.store import STORE_UNAVAILABLE
from followthrough.store.migrate import current, missing_heads, upgrade
from followthrough.temporal import DevServer, connect
from followthrough.temporal.devserver import free_port

log = logging.getLogger("followthrough")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: our loop owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _api_server(settings: Settings, api_key: str, services: Services, client: Client | None) -> _Server:
    app = create_app(settings, api_key=api_key, services=services, client=client)
    config = uvicorn.Config(
        app,
        host=settings.followthrough_api_host,
        port=settings.followthrough_api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        log_config=None,  # our root handlers (with PII redaction) format uvicorn's lines too
    )
    return _Server(config)


async def _run_until_stopped(stop: asyncio.Event, tasks: dict[str, asyncio.Task[object]]) -> None:
    """Wait for a signal or for any part to end (an early end is an error, reported)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    for name, task in tasks.items():
        if task in done and task.exception() is not None:
            raise RuntimeError(f"{name} stopped: {task.exception()}") from task.exception()
    waiter.cancel()


def sandbox_line(settings: Settings) -> str:
    """The banner's line naming the providers that run on sandboxes (nothing leaves the machine)."""
    from followthrough.production import sandboxed_providers

    names = sandboxed_providers(settings)
    if not names:
        return "Sandboxes  none: every provider is real"
    return f"Sandboxes  {', '.join(names)}  (set their credentials to make them real)"


async def prepare_store(settings: Settings, *, always: bool) -> None:
    """Migrate the store: always in `dev`; in `worker`/`api` only for the embedded SQLite
    default (a shared production database is migrated on purpose, by `followthrough db upgrade`).

    A shared database this release's schema is missing from stops the process here, with the
    command that fixes it, rather than failing every request later. One that cannot be reached
    is only logged: the process starts and answers 503 until the store is back."""
    url = settings.effective_database_url
    if always or settings.database_url is None:
        await upgrade(url)
        return
    try:
        revisions = await current(url)
    except STORE_UNAVAILABLE as exc:
        log.warning("store unreachable at start, its schema is not checked: %s", exc)
        return
    if missing := missing_heads(revisions):
        state = f"at {', '.join(revisions)}" if revisions else "never migrated"
        raise SystemExit(
            f"store error: the database is {state}; this release needs {', '.join(missing)}: "
            "run `followthrough db upgrade` first"
        )


async def run_dev(settings: Settings, echo: Callable[[str], None] = print) -> None:
    """Dev server + worker + API in one process tree; Ctrl-C or SIGTERM stops all three."""
    if settings.followthrough_sdk_metrics_address is None:
        # GET /metrics shows the SDK's own metrics beside ours out of the box.
        settings = settings.model_copy(update={"followthrough_sdk_metrics_address": f"127.0.0.1:{free_port()}"})
    tracing.setup("followthrough-dev")
    stop = _stop_event()
    api_key = settings.followthrough_api_key.get_secret_value() if settings.followthrough_api_key else None
    generated = api_key is None
    api_key = api_key or secrets.token_urlsafe(24)
    server: DevServer | None = None
    if settings.embedded:
        server = DevServer(
            settings.home,
            port=settings.followthrough_dev_port,
            ui_port=None if settings.followthrough_dev_headless else settings.followthrough_ui_port,
            namespace=settings.temporal_namespace,
            codec_endpoint=f"http://{settings.followthrough_api_host}:{settings.followthrough_api_port}/codec",
            journal_mode=settings.followthrough_dev_sqlite_journal,
        )
        await server.start()
    services: Services | None = None
    try:
        await prepare_store(settings, always=True)
        client = await connect(settings)
        services = await Services.open(settings)
        worker = build_worker(client, services)
        api = _api_server(settings, api_key, services, client)
        tasks: dict[str, asyncio.Task[object]] = {
            "worker": asyncio.create_task(worker.run()),
            "api": asyncio.create_task(api.serve()),
        }
        while not api.started and not tasks["api"].done():
            await asyncio.sleep(0.05)
        ui = server.ui_url if server else None
        echo(f"Temporal   {settings.target_address}  (namespace {settings.temporal_namespace})")
        echo(f"Web UI     {ui or 'not served (headless or external Temporal)'}")
        echo(f"API        http://{settings.followthrough_api_host}:{settings.followthrough_api_port}  (docs at /docs)")
        echo(f"Worker     polling task queue {settings.temporal_task_queue!r}")
        echo(sandbox_line(settings))
        if generated:
            echo(f"API key    {api_key}  (generated for this run; set FOLLOWTHROUGH_API_KEY to fix it)")
        api_url = f"http://{settings.followthrough_api_host}:{settings.followthrough_api_port}"
        echo("Try next, in another terminal:")
        echo("  ./scripts/followthrough demo                      # a sample campaign, booking and payment")
        echo(f'  curl -H "Authorization: Bearer $KEY" {api_url}/api/campaigns')
        echo("  ./scripts/followthrough webhook send whatsapp     # a signed inbound WhatsApp message")
        echo("Ready. Ctrl-C stops all three.")
        try:
            await _run_until_stopped(stop, tasks)
        finally:
            api.should_exit = True
            await worker.shutdown()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        if services is not None:
            await services.close()
        if server is not None:
            await server.stop()
        echo("Stopped.")


async def run_worker(settings: Settings, echo: Callable[[str], None] = print) -> None:
    tracing.setup("followthrough-worker")
    stop = _stop_event()
    await prepare_store(settings, always=False)
    client = await connect(settings)
    services = await Services.open(settings)
    worker = build_worker(client, services)
    task = asyncio.create_task(worker.run())
    if start_exporter(settings):
        echo(f"Metrics    http://{settings.followthrough_metrics_address}/metrics")
    echo(f"Worker polling {settings.temporal_task_queue!r} on {settings.target_address}")
    echo(sandbox_line(settings))
    try:
        await _run_until_stopped(stop, {"worker": task})  # type: ignore[dict-item]
    finally:
        await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)
        await services.close()


async def run_api(settings: Settings, echo: Callable[[str], None] = print) -> None:
    if settings.followthrough_api_key is None:
        raise SystemExit("configuration error: FOLLOWTHROUGH_API_KEY: required for `followthrough api`")
    tracing.setup("followthrough-api")
    stop = _stop_event()
    await prepare_store(settings, always=False)
    services = await Services.open(settings)
    api = _api_server(settings, settings.followthrough_api_key.get_secret_value(), services, None)
    task = asyncio.create_task(api.serve())
    echo(f"API on http://{settings.followthrough_api_host}:{settings.followthrough_api_port}")
    echo(sandbox_line(settings))
    try:
        await _run_until_stopped(stop, {"api": task})  # type: ignore[dict-item]
    finally:
        api.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await services.close()
