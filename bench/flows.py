"""A follow-up flow and a burst of timers due at once, each against its raw-SDK twin on one server.

    python -m bench.flows --workflows 500 --concurrency 50      # both workloads, both sides

* **flow** (RAW_CEILING.md's scenarios A/B and E): N follow-ups (``said_later``, due 5 s after
  each start, so each runs a timer, the lead's contact check and the WhatsApp send through the
  sandbox provider) started as the API starts them (``Workflows.start``: search attributes, the
  execution timeout, encrypted payloads), at most ``--concurrency`` starts in flight; the raw
  twin sleeps the same 5 s and runs two no-op activities, started with a bare
  ``client.start_workflow``. Figures: workflows/s from the first start to the last result, start
  latency p50/p95/p99, worker and server CPU per workflow, the worker's peak RSS, events and
  bytes of history per workflow.
* **timers** (RAW_CEILING.md's scenario C): N of each, all due at one instant; figures from each
  history: how late the timer fired and how late the first activity after it started (p50/p99).

Both sides run on one fresh dev server (in memory), raw first, each with a fresh worker process
on its own task queue that serves the side's workloads in turn. ``python -m bench`` runs these as
its ``flow`` and ``timers`` workloads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle

from bench.campaign_fanout import RAW_CONVERTER, WorkerProcess, cpu_seconds, raw_noop, settings_env, vm_hwm_mb

#: A flow's step falls due this long after its start is sent. ``completed_as_planned`` counts
#: the executions that did their work; a skipped step shows there. (Until 2026-12-06 a step
#: that fell due before the follow-up's first workflow task ran was skipped: on the full run's
#: backlog of 1,000 starts only 21 were sent. Past is now judged at the execution's start.)
FLOW_DELAY = timedelta(seconds=5)


@workflow.defn(name="RawFlowWorkflow", sandboxed=True)
class RawFlowWorkflow:
    """The follow-up's shape in raw SDK code: sleep until the instant, then two activities."""

    @workflow.run
    async def run(self, due_epoch: float) -> int:
        delay = datetime.fromtimestamp(due_epoch, UTC) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        for step in range(2):
            await workflow.execute_activity(raw_noop, step, start_to_close_timeout=timedelta(seconds=30))
        return 2


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def spread(values: list[float], name: str) -> dict[str, float]:
    """p50/p95/p99 (milliseconds) of ``values`` (seconds)."""
    return {f"{name}_p{p}_ms": round(percentile(values, p) * 1000, 1) for p in (50, 95, 99)}


async def start_ours(client: Client, task_queue: str, index: str, due: datetime) -> WorkflowHandle[Any, Any]:
    from followthrough.catalog import catalog
    from followthrough.leads.models import Lead
    from followthrough.processes.followups.rules import FollowUpInput, followup_workflow_id
    from followthrough.temporal.operations import Workflows

    lead = Lead(id=f"bench-{task_queue}-{index}", phone=f"+5215{abs(hash(index)) % 10**8:08d}")
    input = FollowUpInput(lead=lead, type="said_later", triggered_at=due - timedelta(hours=12))
    outcome = await Workflows(client, task_queue, specs=catalog().specs).start(
        "FollowUpWorkflow",
        input,
        workflow_id=followup_workflow_id(lead.id, "said_later"),
        search_attributes={"LeadId": lead.id},
    )
    return client.get_workflow_handle(outcome.workflow_id)


async def start_raw(client: Client, task_queue: str, index: str, due: datetime) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        RawFlowWorkflow.run, due.timestamp(), id=f"raw-flow-{task_queue}-{index}", task_queue=task_queue
    )


async def run_side(
    kind: str,
    address: str,
    server_pid: int | None,
    home: Path,
    workloads: list[str],
    count: int,
    concurrency: int,
    delay: timedelta = FLOW_DELAY,
) -> dict[str, dict[str, Any]]:
    """One side: a worker process of its own, then each workload in turn on its task queue."""
    from followthrough.config import load_settings
    from followthrough.temporal import connect

    task_queue = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
    env = settings_env(home, address, task_queue)
    os.environ.update(env)
    client = await connect(load_settings(), converter=None if kind == "ours" else RAW_CONVERTER)
    worker = WorkerProcess(kind, address, task_queue, env, module="bench.flows")
    await asyncio.to_thread(worker.wait_ready)
    figures: dict[str, dict[str, Any]] = {}
    try:
        for workload in workloads:
            figures[workload] = await run_phase(
                kind, client, task_queue, worker.process.pid, server_pid, workload, count, concurrency, delay
            )
            print(f"{workload} {kind}: {json.dumps(figures[workload])}", file=sys.stderr, flush=True)
    finally:
        worker.stop()
    return figures


async def run_phase(
    kind: str,
    client: Client,
    task_queue: str,
    worker_pid: int,
    server_pid: int | None,
    workload: str,
    count: int,
    concurrency: int,
    delay: timedelta,
) -> dict[str, Any]:
    """One workload on one side: start ``count`` executions, wait for them all, measure."""
    worker_cpu, server_cpu = cpu_seconds(worker_pid), cpu_seconds(server_pid)
    start = start_ours if kind == "ours" else start_raw
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    # Timers: all due at one instant, late enough for every start to be in.
    shared_due = datetime.now(UTC) + delay + timedelta(seconds=count / 20)

    async def one(index: int) -> tuple[WorkflowHandle[Any, Any], datetime]:
        async with gate:
            due = shared_due if workload == "timers" else datetime.now(UTC) + delay
            begun = time.perf_counter()
            handle = await start(client, task_queue, f"{workload}-{index}", due)
            latencies.append(time.perf_counter() - begun)
            return handle, due

    started = time.perf_counter()
    handles = await asyncio.gather(*(one(i) for i in range(count)))
    results = await asyncio.gather(*(handle.result() for handle, _ in handles))
    seconds = time.perf_counter() - started
    worker_cpu, server_cpu = cpu_seconds(worker_pid) - worker_cpu, cpu_seconds(server_pid) - server_cpu
    figures: dict[str, Any] = {
        "name": "followthrough" if kind == "ours" else "raw SDK",
        "workflows": count,
        "completed_as_planned": sum(1 for r in results if _steps_done(r) == 2),
        "seconds": round(seconds, 2),
        "workflows_per_second": round(count / seconds, 2),
        **spread(latencies, "start"),
        # The worker serves every workload of its side in turn: its peak so far.
        "worker_peak_rss_mb": round(vm_hwm_mb(worker_pid), 1),
        "worker_cpu_ms_per_workflow": round(1000 * worker_cpu / count, 2),
        "server_cpu_ms_per_workflow": round(1000 * server_cpu / count, 2),
    }
    figures.update(await history_figures(client, [h for h, _ in handles], [d for _, d in handles]))
    return figures


def _steps_done(result: Any) -> int:
    """2 when the execution did its work: the raw twin's two activities, or our step sent
    (contact check + send)."""
    if isinstance(result, int):
        return result
    steps = result.steps if hasattr(result, "steps") else result.get("steps", [])
    states = [s.state if hasattr(s, "state") else s["state"] for s in steps]
    return 2 if states == ["sent"] else 0


async def history_figures(
    client: Client, handles: list[WorkflowHandle[Any, Any]], dues: list[datetime]
) -> dict[str, float]:
    """Events and bytes per history, and from each: how late its timer fired and how late the
    first activity after it started, against the instant it was due."""
    gate = asyncio.Semaphore(20)
    events: list[int] = []
    sizes: list[int] = []
    fired: list[float] = []
    activity: list[float] = []

    async def one(handle: WorkflowHandle[Any, Any], due: datetime) -> None:
        async with gate:
            history = await handle.fetch_history()
            description = await handle.describe()
        events.append(len(history.events))
        sizes.append(description.raw_description.workflow_execution_info.history_size_bytes)
        timer_fired = next((e for e in history.events if e.HasField("timer_fired_event_attributes")), None)
        first_activity = next((e for e in history.events if e.HasField("activity_task_started_event_attributes")), None)
        if timer_fired is not None:
            fired.append((timer_fired.event_time.ToDatetime(UTC) - due).total_seconds())
        if first_activity is not None:
            activity.append((first_activity.event_time.ToDatetime(UTC) - due).total_seconds())

    await asyncio.gather(*(one(h, d) for h, d in zip(handles, dues, strict=True)))
    return {
        "history_events_per_workflow": round(sum(events) / max(len(events), 1), 1),
        "history_bytes_per_workflow": round(sum(sizes) / max(len(sizes), 1)),
        **spread(fired, "timer_fired_late"),
        **spread(activity, "activity_started_late"),
    }


async def measure(
    workloads: list[str], count: int, concurrency: int, delay: timedelta = FLOW_DELAY
) -> dict[str, dict[str, Any]]:
    """``flow`` and/or ``timers``: both sides on one fresh in-memory dev server, raw first, each
    side's worker serving its workloads in turn."""
    from followthrough.config import load_settings
    from followthrough.store.migrate import upgrade
    from followthrough.temporal import DevServer
    from followthrough.temporal.devserver import free_port

    with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
        home = Path(tmp)
        server = DevServer(home / "temporal", port=free_port(), ui_port=None)
        await server.start()
        try:
            pid = server.process.pid if server.process is not None else None
            os.environ.update(settings_env(home, server.address, "bench"))
            await upgrade(load_settings().effective_database_url)
            raw = await run_side("raw", server.address, pid, home, workloads, count, concurrency, delay)
            ours = await run_side("ours", server.address, pid, home, workloads, count, concurrency, delay)
        finally:
            await server.stop()
    return {
        workload: {
            "workflows": count,
            "concurrency": concurrency,
            "delay_seconds": delay.total_seconds(),
            "sides": [ours[workload], raw[workload]],
        }
        for workload in workloads
    }


async def run_worker(kind: str, address: str, task_queue: str) -> None:
    if kind == "ours":
        from bench.campaign_fanout import run_worker as run_package_worker

        await run_package_worker("ours", address, task_queue)
        return
    from followthrough.config import load_settings
    from followthrough.services import Services
    from followthrough.temporal import build_worker, connect

    settings = load_settings(temporal_address=address, temporal_task_queue=task_queue)
    services = await Services.open(settings)
    client = await connect(settings, converter=RAW_CONVERTER)
    worker = build_worker(client, services, workflows=[RawFlowWorkflow], activities=[raw_noop])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()
    await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["flow", "timers"], choices=["flow", "timers"])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50, help="starts in flight")
    parser.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--address", default="", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role.startswith("worker-"):
        asyncio.run(run_worker(args.role.removeprefix("worker-"), args.address, args.task_queue))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # as the campaign bench's worker: no finalization under the core's threads
    report = asyncio.run(measure(args.workloads, args.workflows, args.concurrency))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
