"""A campaign of N leads against a raw-SDK fan-out of the same shape, in the same run.

    python -m bench.campaign_fanout --leads 10000            # both, then the ratios
    python -m bench.campaign_fanout --leads 50 --json        # smoke size, machine-readable
    python -m bench.campaign_fanout --leads 100000 --sides ours --server-dir /dev/shm --json > ours.json
    python -m bench.campaign_fanout --combine ours.json raw.json   # two one-side runs, the ratios
    python -m bench.campaign_fanout --compare-logs ours.log raw.log  # two stopped sides, from stderr

What runs, each side on a fresh Temporal dev server this script starts (``temporal server
start-dev`` on free ports, persistence in a SQLite *file* in a temporary directory, so the server
does the same fsyncs as the embedded default; ``--server-db memory`` keeps it in memory
instead, and ``--server-dir /dev/shm`` puts the file on tmpfs, without the disk's fsyncs; at
100,000 leads use a file: an in-memory server grew from 4 to 18 GB RSS and stopped answering
at 63,210 leads). A progress line (leads done, rate, the parent's run and history length) goes
to stderr every ``--progress-every`` seconds:

* **followthrough**: a campaign in the store (SQLite file) with N leads and a three-action graph
  (profile_visit → like_post → send_invitation), a sender whose limits are lifted (no window,
  no caps, no spacing) and sandbox providers (no latency, no faults). ``CampaignOrchestratorWorkflow``
  runs it with a window of ``--window`` lead workflows (default 100), no spacing, continuing as
  new every ``--continue-as-new-after`` starts; every ``LeadOutreachWorkflow`` does its real work
  (execution record, slot check, the three sandbox actions through the outbox, lead_finished).
* **raw SDK**: a plain parent keeps ``--window`` children in flight, starting each refill in the
  workflow task that saw room (as RAW_CEILING.md's scenario D does; ~4.5 events a child), and
  continues as new every ``--raw-batch`` children (default 5,000, ~22,000 events a run: one
  history would pass 51,200 events near 11,000 children); each child runs three no-op
  activities. Before, the parent awaited each child's start before the next one: one child per
  workflow-task round trip, 10.0 children/s against 34.9 at 2,000 leads in memory.

Each side gets a fresh worker *process* (the package worker with the default settings: 100
activities, 50 workflow tasks, 200 activities/s), so its peak memory (VmHWM from /proc) is its
own. Printed per side: total time, leads/s, the largest history of any execution (events,
from visibility's HistoryLength over the task queue), the worker's peak memory, and the CPU time
the worker and the server spent per lead (``/proc``; a figure that, unlike leads/s, hardly moves
when something else shares the two cores); then the ratios. With ``--server-metrics`` the dev
server serves its Prometheus metrics, and each side also reports the server's storage calls per
lead by operation (execution writes and loads, visibility writes, tasks spilled to matching's
table, ...), read from them before and after the side ran: what a lead costs the server, not
only how much. It also reads them at every progress line (with both processes' CPU and the size
of the server's SQLite file): the line says what the server did per lead since the last one,
and the report's ``server_windows`` give it per window of the run, so a long run shows which
call grows and when. ``--reconcile-every`` sets the orchestrator's reconcile pass (an hour by
default), to bring it into a short run.
``tests/test_bench_smoke.py`` runs it (through ``python -m bench``) with a handful of leads, so the script
itself cannot rot; the figures come from runs by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.report import rate_fall
from followthrough.config import JOURNAL_MODES

#: The raw side uses the plain pydantic converter: no payload encryption.
RAW_CONVERTER = pydantic_data_converter
GRAPH = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "like", "kind": "action", "action": "like_post", "config": {"number_of_posts": 1}},
        {"id": "invite", "kind": "action", "action": "send_invitation"},
        {"id": "done", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "like"},
        {"source": "like", "target": "invite"},
        {"source": "invite", "target": "done"},
    ],
}


# --- the raw-SDK shape -------------------------------------------------------------------------
@activity.defn(name="raw.noop")
async def raw_noop(step: int) -> int:
    return step


@workflow.defn(name="RawLeadWorkflow", sandboxed=True)
class RawLeadWorkflow:
    @workflow.run
    async def run(self, lead: int) -> int:
        for step in range(3):
            await workflow.execute_activity(raw_noop, step, start_to_close_timeout=timedelta(seconds=30))
        return lead


@workflow.defn(name="RawFanoutWorkflow", sandboxed=True)
class RawFanoutWorkflow:
    """The fan-out a raw-SDK user writes: ``window`` children in flight, each refill started in
    the same workflow task as the completions that made room (one task per child, not one
    awaited start after another), as in RAW_CEILING.md's scenario D."""

    def __init__(self) -> None:
        self._done = self._total = 0

    @workflow.query
    def progress(self) -> list[int]:
        """[children done, total], for the progress line (a query adds no event)."""
        return [self._done, self._total]

    @workflow.run
    async def run(self, args: list[int]) -> int:
        total, window, batch, done = args
        self._total, self._done = total, done
        end = min(total, done + batch)
        in_flight: list[asyncio.Task[Any]] = []  # a list, in start order: replays the same
        nxt = done
        while nxt < end or in_flight:
            while nxt < end and len(in_flight) < window:
                child = workflow.execute_child_workflow(
                    RawLeadWorkflow.run, nxt, id=f"{workflow.info().workflow_id}-lead-{nxt}"
                )
                in_flight.append(asyncio.create_task(child))
                nxt += 1
            await workflow.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in in_flight:
                if task.done():
                    task.result()  # a failed child fails the fan-out
                    self._done += 1
            in_flight = [task for task in in_flight if not task.done()]
        if end < total:
            workflow.continue_as_new([total, window, batch, end])
        return end


# --- measurements ------------------------------------------------------------------------------
@dataclass
class Figures:
    name: str
    leads: int
    seconds: float
    leads_per_second: float
    largest_history: int
    largest_history_workflow: str
    worker_peak_rss_mb: float
    #: CPU seconds (user + system) over the measured interval, and per lead in milliseconds:
    #: unlike leads/s, these hardly move when something else shares the box.
    worker_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    worker_cpu_ms_per_lead: float = 0.0
    server_cpu_ms_per_lead: float = 0.0
    #: The per-lead executions (not the parent's runs): mean events and bytes of history; None
    #: (unknown, never a false 0) when visibility listed none.
    lead_history_events: float | None = None
    lead_history_bytes: float | None = None
    #: The parent's largest run: events per lead it handled (its runs hold ``continue_as_new_after``);
    #: None when visibility listed no parent.
    parent_events_per_lead: float | None = None
    #: Leads/s in consecutive windows of ``rate_window_seconds`` (from the progress samples).
    rate_per_window: list[float] = field(default_factory=list)
    rate_window_seconds: float = 0.0
    #: The window's fill: lead workflows running (visibility's count, the same query on both
    #: sides), mean and least over the progress samples taken while more than a window of
    #: leads was still to finish (so the window should be full).
    leads_running_mean: float = 0.0
    leads_running_min: int = 0
    #: With ``--server-metrics``: what the server did per lead, from its own ``/metrics``
    #: (``persistence_requests`` and ``visibility_persistence_requests`` by operation, the most
    #: frequent first); empty without it.
    server_ops_per_lead: dict[str, float] = field(default_factory=dict)
    #: With ``--server-metrics``: the same, and the CPU, time in storage calls and size of the
    #: server's file, per window of ``rate_window_seconds`` (whole progress intervals).
    server_windows: list[dict[str, Any]] = field(default_factory=list)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a live process so far (``/proc/<pid>/stat``; 0 if gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


#: The server's counters of storage calls, one series per operation (and service, shard, ...).
_OPS_COUNTERS = ("persistence_requests", "visibility_persistence_requests")
#: Its histograms of the time those calls took (seconds).
_OPS_LATENCIES = ("persistence_latency", "visibility_persistence_latency")


def _by_operation(metrics_text: str, families: tuple[str, ...], suffixes: tuple[str, ...]) -> dict[str, float]:
    """The samples of ``families`` named ``<family><suffix>``, summed by their ``operation``
    label over the others, from the server's Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    ops: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in families:
            continue
        for sample in family.samples:
            if sample.name in {family.name + suffix for suffix in suffixes}:
                operation = sample.labels.get("operation", "")
                ops[operation] = ops.get(operation, 0.0) + sample.value
    return ops


def server_ops(metrics_text: str) -> dict[str, float]:
    """Storage calls so far by operation, summed over the other labels, from the server's
    Prometheus text (``temporal server start-dev --metrics-port``)."""
    # A counter's samples come back named ``<family>_total`` (declared) or ``<family>``.
    return _by_operation(metrics_text, _OPS_COUNTERS, ("", "_total"))


def server_latency(metrics_text: str) -> dict[str, float]:
    """Seconds spent in storage calls so far, by operation (the histograms' sums)."""
    return _by_operation(metrics_text, _OPS_LATENCIES, ("_sum",))


def ops_per_lead(before: dict[str, float], after: dict[str, float], leads: int, top: int = 20) -> dict[str, float]:
    """The ``top`` most frequent operations between two readings, per lead."""
    done = {op: (n - before.get(op, 0.0)) / max(leads, 1) for op, n in after.items()}
    ranked = sorted(((op, n) for op, n in done.items() if n > 0), key=lambda item: -item[1])[:top]
    return {op: round(n, 2) for op, n in ranked}


#: The server publishes its counters every few seconds, not as they move: a reading taken at
#: once missed most of a 6-lead run (0.8 execution writes a lead where there were 16).
METRICS_SETTLE_SECONDS = 5.0


async def read_server_ops(url: str | None) -> dict[str, float]:
    """The server's storage calls so far (empty without a metrics URL), read once what it did
    until now has been published."""
    if not url:
        return {}
    await asyncio.sleep(METRICS_SETTLE_SECONDS)
    return server_ops(await fetch_metrics(url))


async def fetch_metrics(url: str) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(url)).text


@dataclass
class Reading:
    """What the server and the worker had done at one progress line."""

    elapsed: float
    done: int
    server_cpu: float
    worker_cpu: float
    ops: dict[str, float]
    latency: dict[str, float]
    db_bytes: int


def file_bytes(db_path: Path | None) -> int:
    """The server's SQLite file with its write-ahead log (``-wal``; the journal the dev server
    keeps since 9ef846f holds the latest commits until they are checkpointed into the file)."""
    if db_path is None:
        return 0
    paths = (db_path, db_path.with_name(db_path.name + "-wal"))
    return sum(path.stat().st_size for path in paths if path.exists())


class ServerProbe:
    """Readings of the server's storage calls, both processes' CPU and the size of the server's
    SQLite file at each progress line (``--server-metrics``), so a long run shows which of the
    server's operations grows, and when, not only its totals. The metrics lag the server by a few
    seconds (it publishes them every few seconds), which a window of minutes does not feel."""

    def __init__(self, url: str, server_pid: int | None, worker_pid: int | None, db_path: Path | None) -> None:
        self.url, self.server_pid, self.worker_pid, self.db_path = url, server_pid, worker_pid, db_path
        self.readings: list[Reading] = []

    async def read(self, elapsed: float, done: int) -> str:
        """Take a reading; answer what the server did per lead since the previous one (for the
        progress line)."""
        text = await fetch_metrics(self.url)
        size = file_bytes(self.db_path)
        reading = Reading(
            elapsed,
            done,
            cpu_seconds(self.server_pid),
            cpu_seconds(self.worker_pid),
            server_ops(text),
            server_latency(text),
            size,
        )
        previous = self.readings[-1] if self.readings else None
        self.readings.append(reading)
        if previous is None or reading.done <= previous.done:
            return ""
        window = window_figures(previous, reading)
        return (
            f"; since the last line, per lead: server {window['server_cpu_ms_per_lead']} ms CPU, "
            f"{window['storage_ms_per_lead']} ms in storage calls; file {window['db_mb']} MB"
        )

    def windows(self, seconds: float) -> list[dict[str, Any]]:
        """The readings in consecutive windows of about ``seconds`` (whole progress intervals)."""
        if not self.readings:
            return []
        found: list[dict[str, Any]] = []
        start = self.readings[0]
        for reading in self.readings[1:]:
            if reading.elapsed - start.elapsed >= seconds - 1e-6 and reading.done > start.done:
                found.append(window_figures(start, reading))
                start = reading
        return found


def window_figures(start: Reading, end: Reading, top: int = 8) -> dict[str, Any]:
    """Per lead finished between two readings: CPU, time in storage calls, the most frequent
    calls and the calls that took the most time."""
    leads = max(end.done - start.done, 1)
    storage = {op: 1000 * (s - start.latency.get(op, 0.0)) / leads for op, s in end.latency.items()}
    slowest = sorted(((op, ms) for op, ms in storage.items() if ms > 0), key=lambda item: -item[1])[:top]
    return {
        "from_seconds": round(start.elapsed),
        "to_seconds": round(end.elapsed),
        "leads": end.done - start.done,
        "leads_per_second": round((end.done - start.done) / max(end.elapsed - start.elapsed, 1e-9), 2),
        "server_cpu_ms_per_lead": round(1000 * (end.server_cpu - start.server_cpu) / leads, 1),
        "worker_cpu_ms_per_lead": round(1000 * (end.worker_cpu - start.worker_cpu) / leads, 1),
        "storage_ms_per_lead": round(sum(ms for ms in storage.values() if ms > 0), 1),
        "db_mb": round(end.db_bytes / 1e6, 1),
        "ops_per_lead": ops_per_lead(start.ops, end.ops, leads, top),
        "storage_ms_per_lead_by_op": {op: round(ms, 2) for op, ms in slowest},
    }


def with_cpu(figures: Figures, worker: float, server: float) -> Figures:
    figures.worker_cpu_seconds, figures.server_cpu_seconds = round(worker, 2), round(server, 2)
    figures.worker_cpu_ms_per_lead = round(1000 * worker / max(figures.leads, 1), 2)
    figures.server_cpu_ms_per_lead = round(1000 * server / max(figures.leads, 1), 2)
    return figures


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Histories:
    """What visibility says of the histories on one task queue."""

    largest: int = 0
    largest_workflow: str = ""
    largest_parent: int = 0
    lead_events: float = 0.0
    lead_bytes: float = 0.0


#: The workflow types that run once per lead, on either side.
LEAD_TYPES = frozenset({"LeadOutreachWorkflow", "RawLeadWorkflow"})


async def histories(client: Client, task_queue: str) -> Histories:
    found = Histories()
    leads = events = size = 0
    async for execution in client.list_workflows(f'TaskQueue = "{task_queue}"', page_size=1000):
        length = execution.history_length or 0
        if length > found.largest:
            found.largest, found.largest_workflow = length, f"{execution.id} ({execution.workflow_type})"
        if execution.workflow_type in LEAD_TYPES:
            leads, events, size = leads + 1, events + length, size + execution.raw_info.history_size_bytes
        else:
            found.largest_parent = max(found.largest_parent, length)
    if leads:
        found.lead_events, found.lead_bytes = round(events / leads, 1), round(size / leads)
    return found


def with_histories(figures: Figures, found: Histories, leads_per_run: int) -> Figures:
    if found.lead_events:
        figures.lead_history_events, figures.lead_history_bytes = found.lead_events, found.lead_bytes
    if found.largest_parent:
        figures.parent_events_per_lead = round(found.largest_parent / max(min(figures.leads, leads_per_run), 1), 2)
    return figures


def running_query(task_queue: str) -> str:
    """Visibility's query for the lead workflows running on ``task_queue`` (either side)."""
    types = " OR ".join(f'WorkflowType = "{name}"' for name in sorted(LEAD_TYPES))
    return f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running" AND ({types})'


def with_fill(figures: Figures, fill: list[tuple[int, int]], window: int) -> Figures:
    """The window's fill from (leads done, lead workflows running) samples: only those taken
    while more than a window of leads was left, when a full window is possible."""
    full = [running for done, running in fill if figures.leads - done > window]
    if full:
        figures.leads_running_mean = round(sum(full) / len(full), 1)
        figures.leads_running_min = min(full)
    return figures


def rate_windows(samples: list[tuple[float, int]], seconds: float, leads: int) -> tuple[list[float], float]:
    """Leads/s per window from (elapsed, done) samples, interpolated between samples: ten-minute
    windows when the run lasts half an hour or more, else fifths of the run (so a short run
    still shows its trend). A last, partial window is left out."""
    if seconds <= 0:
        return [], 0.0
    window = 600.0 if seconds >= 1800 else seconds / 5
    points = [(0.0, 0), *sorted(samples), (seconds, leads)]

    def done_at(t: float) -> float:
        for (t0, d0), (t1, d1) in zip(points, points[1:], strict=False):
            if t0 <= t <= t1:
                return d0 + (d1 - d0) * (t - t0) / (t1 - t0) if t1 > t0 else float(d1)
        return float(leads)

    count = int(seconds / window + 1e-6)
    rates = [round((done_at(k * window) - done_at((k - 1) * window)) / window, 2) for k in range(1, count + 1)]
    return rates, round(window, 1)


class WorkerProcess:
    """The worker in a process of its own, so VmHWM is the worker's alone."""

    def __init__(
        self, kind: str, address: str, task_queue: str, env: dict[str, str], module: str = "bench.campaign_fanout"
    ) -> None:
        cmd = [sys.executable, "-m", module, "--role", f"worker-{kind}"]
        cmd += ["--address", address, "--task-queue", task_queue]
        self.process = subprocess.Popen(
            cmd,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"worker did not start: {line!r} (exit {self.process.poll()})")
        # Keep reading: the SDK core logs to stdout (e.g. "Workflow task duration exceeded 5
        # seconds" under load). Unread, the pipe filled after ~64 kB and the worker's workflow
        # thread blocked in write(): no workflow task was polled again, leads stood at two
        # events and the orchestrator answered no query (seen 2026-12-06; the "worker polled
        # nothing" stall of 2026-12-02 in docs/BENCHMARKS.md looks the same).
        threading.Thread(target=self._forward, args=(self.process.stdout,), daemon=True).start()

    @staticmethod
    def _forward(stream: Any) -> None:
        for line in stream:
            sys.stderr.write(f"worker: {line}")

    def stop(self) -> tuple[float, float]:
        """Stop the worker; its peak RSS (MB) and CPU seconds, read just before."""
        peak, cpu = vm_hwm_mb(self.process.pid), cpu_seconds(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return peak, cpu


# --- roles -------------------------------------------------------------------------------------
def settings_env(home: Path, address: str, task_queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "FOLLOWTHROUGH_HOME": str(home),
            "DATABASE_URL": f"sqlite+aiosqlite:///{home / 'store.db'}",
            "FOLLOWTHROUGH_SANDBOX_FAULTS": "",
            # Payloads encrypted as in production (a key for this run only).
            "FOLLOWTHROUGH_CODEC_KEYS": os.environ.get("FOLLOWTHROUGH_CODEC_KEYS")
            or "bench:" + base64.b64encode(os.urandom(32)).decode(),
            "FOLLOWTHROUGH_SECRETS_KEY": os.environ.get("FOLLOWTHROUGH_SECRETS_KEY")
            or base64.b64encode(os.urandom(32)).decode(),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


async def run_worker(kind: str, address: str, task_queue: str) -> None:
    from followthrough.catalog import build_worker
    from followthrough.config import load_settings
    from followthrough.services import Services
    from followthrough.temporal import connect

    settings = load_settings(temporal_address=address, temporal_task_queue=task_queue)
    services = await Services.open(settings)
    client = await connect(settings, converter=None if kind == "ours" else RAW_CONVERTER)
    if kind == "ours":
        worker = build_worker(client, services)
    else:
        worker = build_worker(client, services, workflows=[RawFanoutWorkflow, RawLeadWorkflow], activities=[raw_noop])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()
    await services.close()


async def prepare_campaign(leads: int) -> tuple[str, str]:
    """A campaign with ``leads`` leads and a lifted sender, in the store the env names."""
    from followthrough.config import load_settings
    from followthrough.processes.campaigns.sending_window import lifted_account_columns
    from followthrough.services import Services
    from followthrough.store.migrate import upgrade
    from followthrough.store.repositories import CampaignLeads, Campaigns, NewCampaignLead, SenderAccounts

    settings = load_settings()
    await upgrade(settings.effective_database_url)
    services = await Services.open(settings)
    try:
        account = await SenderAccounts(services.database).create(
            organization_id="bench-org",
            display_name="bench",
            status="connected",
            # Every limit lifted (always open, no caps, no spacing): leads skip the coordinator.
            **lifted_account_columns(),
        )
        campaign = await Campaigns(services.database).create(
            name="bench", organization_id="bench-org", sender_account_id=account.id, graph=GRAPH
        )
        new = (NewCampaignLead(linkedin_id=f"bench-{i}", first_name="Lead") for i in range(leads))
        await CampaignLeads(services.database).add(campaign.id, new)
        return campaign.id, account.id
    finally:
        await services.close()


async def measure_ours(client: Client, args: argparse.Namespace, env: dict[str, str], task_queue: str) -> Figures:
    from followthrough.processes.campaigns.orchestrator import CampaignOrchestratorWorkflow
    from followthrough.processes.campaigns.seats import CampaignOrchestratorInput

    campaign_id, account_id = await prepare_campaign(args.leads)
    worker = WorkerProcess("ours", args.address, task_queue, env)
    await asyncio.to_thread(worker.wait_ready)
    worker_cpu, server_cpu = cpu_seconds(worker.process.pid), cpu_seconds(args.server_pid)
    probe = await start_probe(args, worker.process.pid)
    started = time.perf_counter()
    try:
        handle = await client.start_workflow(
            CampaignOrchestratorWorkflow.run,
            CampaignOrchestratorInput(
                campaign_id=campaign_id,
                organization_id="bench-org",
                sender_account_id=account_id,
                max_concurrent_leads=args.window,
                lead_processing_delay_seconds=0,
                continue_as_new_after=args.continue_as_new_after,
                **({"reconcile_every_seconds": args.reconcile_every} if args.reconcile_every else {}),
            ),
            id=f"campaign-{campaign_id}",
            task_queue=task_queue,
        )
        samples: list[tuple[float, int]] = []
        fill: list[tuple[int, int]] = []
        progress = asyncio.create_task(
            report_progress(
                started,
                args.progress_every,
                orchestrator_progress(handle),
                samples,
                count_running(client, task_queue),
                fill,
                probe,
            )
        )
        try:
            result = await handle.result()
        finally:
            progress.cancel()
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(args.server_pid) - server_cpu
    finally:
        peak, worker_end = worker.stop()
    if result.totals.succeeded != args.leads:
        print(f"warning: {result.totals}", file=sys.stderr)
    found = await histories(client, task_queue)
    figures = Figures(
        "followthrough", args.leads, seconds, args.leads / seconds, found.largest, found.largest_workflow, peak
    )
    figures.rate_per_window, figures.rate_window_seconds = rate_windows(samples, seconds, args.leads)
    if probe is not None:
        figures.server_windows = probe.windows(figures.rate_window_seconds)
    with_histories(figures, found, args.continue_as_new_after)
    with_fill(figures, fill, args.window)
    return with_cpu(figures, worker_end - worker_cpu, server_cpu)


async def start_probe(args: argparse.Namespace, worker_pid: int) -> ServerProbe | None:
    """With ``--server-metrics``, a probe of the side's server with its first reading taken."""
    url = getattr(args, "metrics_url", None)
    if not url:
        return None
    probe = ServerProbe(url, args.server_pid, worker_pid, getattr(args, "server_db_path", None))
    await probe.read(0.0, 0)
    return probe


async def report_progress(
    started: float,
    every: float,
    read: Callable[[], Awaitable[tuple[int, int, str]]],
    samples: list[tuple[float, int]] | None = None,
    running: Callable[[], Awaitable[int]] | None = None,
    fill: list[tuple[int, int]] | None = None,
    probe: ServerProbe | None = None,
) -> None:
    """A progress line on stderr every ``every`` seconds: ``read()`` answers (done, total, the
    rest of the line) from the parent's query; each answer is also kept in ``samples``, and
    with ``running`` (visibility's count of lead workflows running) (done, running) in ``fill``;
    a ``probe`` takes a reading of the server at each line and adds what it did per lead."""
    while every > 0:
        await asyncio.sleep(every)
        try:
            done, total, rest = await read()
            if running is not None:
                leads_running = await running()
                rest = f"{leads_running} lead workflows running, {rest}"
                if fill is not None:
                    fill.append((done, leads_running))
        except Exception as exc:  # noqa: BLE001 - between two runs (continue-as-new): try again later
            # The message tells a continue-as-new in flight from a worker that stopped answering.
            elapsed = time.perf_counter() - started
            print(
                f"progress: {elapsed:7.0f} s  not answered ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True
            )
            continue
        elapsed = time.perf_counter() - started
        if samples is not None:
            samples.append((elapsed, done))
        if probe is not None:
            try:
                rest += await probe.read(elapsed, done)
            except Exception as exc:  # noqa: BLE001 - a missed reading must not stop the run
                rest += f"; no server reading ({type(exc).__name__})"
        print(
            f"progress: {elapsed:7.0f} s  {done}/{total} done ({done / elapsed:.1f}/s), {rest}",
            file=sys.stderr,
            flush=True,
        )


def count_running(client: Client, task_queue: str) -> Callable[[], Awaitable[int]]:
    query = running_query(task_queue)

    async def count() -> int:
        return (await client.count_workflows(query)).count

    return count


def orchestrator_progress(handle: Any) -> Callable[[], Awaitable[tuple[int, int, str]]]:
    from followthrough.processes.campaigns.orchestrator import CampaignOrchestratorWorkflow

    async def read() -> tuple[int, int, str]:
        status = await handle.query(CampaignOrchestratorWorkflow.status)
        t = status.totals
        rest = f"{t.running} running + {status.starting} starting, run {status.runs}, "
        rest += f"history {status.history_length} events"
        return t.succeeded + t.failed + t.stopped, t.total, rest

    return read


def raw_progress(handle: Any) -> Callable[[], Awaitable[tuple[int, int, str]]]:
    async def read() -> tuple[int, int, str]:
        done, total = await handle.query(RawFanoutWorkflow.progress)
        history = (await handle.describe()).raw_description.workflow_execution_info.history_length
        return done, total, f"raw parent run history {history} events"

    return read


async def measure_raw(client: Client, args: argparse.Namespace, env: dict[str, str], task_queue: str) -> Figures:
    worker = WorkerProcess("raw", args.address, task_queue, env)
    await asyncio.to_thread(worker.wait_ready)
    worker_cpu, server_cpu = cpu_seconds(worker.process.pid), cpu_seconds(args.server_pid)
    probe = await start_probe(args, worker.process.pid)
    started = time.perf_counter()
    try:
        handle = await client.start_workflow(
            RawFanoutWorkflow.run,
            [args.leads, args.window, args.raw_batch, 0],
            id=f"raw-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        samples: list[tuple[float, int]] = []
        fill: list[tuple[int, int]] = []
        progress = asyncio.create_task(
            report_progress(
                started,
                args.progress_every,
                raw_progress(handle),
                samples,
                count_running(client, task_queue),
                fill,
                probe,
            )
        )
        try:
            await handle.result()
        finally:
            progress.cancel()
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(args.server_pid) - server_cpu
    finally:
        peak, worker_end = worker.stop()
    found = await histories(client, task_queue)
    figures = Figures("raw SDK", args.leads, seconds, args.leads / seconds, found.largest, found.largest_workflow, peak)
    figures.rate_per_window, figures.rate_window_seconds = rate_windows(samples, seconds, args.leads)
    if probe is not None:
        figures.server_windows = probe.windows(figures.rate_window_seconds)
    with_histories(figures, found, args.raw_batch)
    with_fill(figures, fill, args.window)
    return with_cpu(figures, worker_end - worker_cpu, server_cpu)


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    from followthrough.config import load_settings
    from followthrough.temporal import DevServer, connect
    from followthrough.temporal.devserver import free_port

    began = datetime.now(UTC).isoformat(timespec="seconds")
    with (
        tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="campaign-bench-server-", dir=args.server_dir or tmp) as server_tmp,
    ):
        home, server_home = Path(tmp), Path(server_tmp)
        db_filename = "temporal.db" if args.server_db == "file" else None
        figures: list[Figures] = []
        for kind in args.sides:
            # A fresh server per side: neither pays for what the other left in its tables.
            server = DevServer(
                server_home / f"temporal-{kind}",
                port=free_port(),
                ui_port=None,
                db_filename=db_filename,
                metrics_port=free_port() if getattr(args, "server_metrics", False) else None,
                journal_mode=journal(args),
            )
            await server.start()
            try:
                args.address = server.address
                args.server_pid = server.process.pid if server.process is not None else None
                args.metrics_url, args.server_db_path = server.metrics_url, server.db_path
                task_queue = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
                env = settings_env(home, server.address, task_queue)
                os.environ.update(env)
                client = await connect(load_settings(), converter=None if kind == "ours" else RAW_CONVERTER)
                measure = measure_ours if kind == "ours" else measure_raw
                ops_before = await read_server_ops(server.metrics_url)
                figures.append(await measure(client, args, env, task_queue))
                ops_after = await read_server_ops(server.metrics_url)
                figures[-1].server_ops_per_lead = ops_per_lead(ops_before, ops_after, figures[-1].leads)
                print(format_figures(figures[-1]), file=sys.stderr, flush=True)
                if figures[-1].server_windows:
                    print(format_windows(figures[-1]), file=sys.stderr, flush=True)
            finally:
                if server.process is not None and server.process.poll() is not None:
                    # It died under us: say why before the temporary directory (and its log) goes.
                    tail = server.log_path.read_text(errors="replace")[-4000:]
                    print(f"dev server exited ({server.process.returncode}); its log ends:\n{tail}", file=sys.stderr)
                await server.stop()
    report: dict[str, Any] = {
        "began": [began],
        "leads": args.leads,
        "window": args.window,
        "server": server_kind(args.server_db, args.server_dir, journal(args)),
        "sides": [asdict(f) for f in figures],
    }
    return with_ratios(report, figures)


def journal(args: argparse.Namespace) -> str:
    """The server file's journal mode: the product's own default unless ``--server-journal``."""
    return getattr(args, "server_journal", None) or "wal"


def server_kind(server_db: str, server_dir: str, journal_mode: str = "wal") -> str:
    """What the report says the server kept its tables on, and how (the rate depends on both:
    2,000 leads on disk ran 9.7 leads/s with SQLite's rollback journal, 15.0 with WAL)."""
    if server_db != "file":
        return "temporal dev server, in memory"
    where = "tmpfs" if filesystem_of(Path(server_dir or tempfile.gettempdir())) == "tmpfs" else "disk"
    return f"temporal dev server, SQLite file ({journal_mode.upper()} journal) on {where}"


def filesystem_of(path: Path, mounts: str = "/proc/mounts") -> str:
    """The type of the file system ``path`` is on (its longest mount point), "" if unknown."""
    try:
        table = [line.split()[1:3] for line in Path(mounts).read_text().splitlines() if len(line.split()) > 2]
    except OSError:
        return ""
    resolved = str(path.resolve())
    found = [(point, kind) for point, kind in table if (resolved + "/").startswith(point.rstrip("/") + "/")]
    return max(found, key=lambda pair: len(pair[0]))[1] if found else ""


def with_ratios(report: dict[str, Any], figures: list[Figures]) -> dict[str, Any]:
    """The ratios ours / raw, when the report holds both sides (ours first)."""
    if len(figures) == 2:
        ours, raw = figures
        report["ratio_leads_per_second"] = round(ours.leads_per_second / raw.leads_per_second, 3)
        report["ratio_largest_history"] = round(ours.largest_history / max(raw.largest_history, 1), 3)
        report["ratio_worker_peak_rss"] = round(ours.worker_peak_rss_mb / max(raw.worker_peak_rss_mb, 1), 3)
        report["ratio_worker_cpu_per_lead"] = round(
            ours.worker_cpu_ms_per_lead / max(raw.worker_cpu_ms_per_lead, 0.01), 3
        )
        report["ratio_server_cpu_per_lead"] = round(
            ours.server_cpu_ms_per_lead / max(raw.server_cpu_ms_per_lead, 0.01), 3
        )
    return report


#: What two one-side reports must share to be compared.
SHARED_KEYS = ("leads", "window", "server")


def combine_reports(paths: list[str]) -> dict[str, Any]:
    """One report, with the ratios, from two ``--json`` reports of one side each, run one after
    the other with the same leads, window and server (at 100,000 leads a side takes most of a
    working session, so the two sides are run separately). Refuses reports that do not match."""
    reports = [json.loads(Path(path).read_text()) for path in paths]
    sides = [side for report in reports for side in report["sides"]]
    names = sorted(side["name"] for side in sides)
    if names != ["followthrough", "raw SDK"]:
        raise SystemExit(f"--combine needs one report of each side, got sides {names}")
    for key in SHARED_KEYS:
        if reports[0][key] != reports[1][key]:
            raise SystemExit(f"--combine: the reports differ in {key}: {reports[0][key]!r} vs {reports[1][key]!r}")
    figures = sorted((Figures(**side) for side in sides), key=lambda f: f.name)  # followthrough, then raw
    report = {key: reports[0][key] for key in SHARED_KEYS}
    report["sides"] = [asdict(f) for f in figures]
    report["began"] = sorted(began for r in reports for began in r.get("began", []))
    report["combined_from"] = [Path(path).name for path in paths]
    return with_ratios(report, figures)


#: A progress line: seconds, leads done, and (when the side had ``--server-metrics``) the
#: server's CPU per lead since the line before.
PROGRESS_LINE = re.compile(r"^progress:\s+(\d+) s\s+(\d+)/\d+ done ")
SERVER_CPU = re.compile(r"per lead: server ([\d.]+) ms CPU")
LEADS_RUNNING = re.compile(r"(\d+) lead workflows running")


def read_progress(text: str) -> list[dict[str, Any]]:
    """The answered progress lines of a side's log (stderr), in order: seconds, done, and where
    the line says them, the server's CPU per lead since the line before and the lead workflows
    running."""
    lines = []
    for line in text.splitlines():
        found = PROGRESS_LINE.match(line)
        if not found:
            continue
        cpu, running = SERVER_CPU.search(line), LEADS_RUNNING.search(line)
        lines.append(
            {
                "seconds": int(found[1]),
                "done": int(found[2]),
                "server_cpu_ms_per_lead": float(cpu[1]) if cpu else None,
                "leads_running": int(running[1]) if running else None,
            }
        )
    return lines


def progress_upto(lines: list[dict[str, Any]], upto: int) -> dict[str, Any]:
    """What a side's progress lines say of its leads up to ``upto``: leads and seconds at its last
    line at or below it, leads/s, the server's CPU per lead (the lines' figures weighted by the
    leads each line covers), the rate per window and its fall, and the mean of the window's fill."""
    kept = [line for line in lines if line["done"] <= upto]
    if not kept or kept[-1]["seconds"] <= 0:
        raise SystemExit(f"--compare-logs: a side has no progress line at or below {upto} leads")
    last = kept[-1]
    weighted, weight, before = 0.0, 0, 0
    for line in kept:
        leads = line["done"] - before
        before = line["done"]
        if line["server_cpu_ms_per_lead"] is not None and leads > 0:
            weighted += line["server_cpu_ms_per_lead"] * leads
            weight += leads
    samples = [(float(line["seconds"]), line["done"]) for line in kept]
    rates, window = rate_windows(samples, float(last["seconds"]), last["done"])
    running = [line["leads_running"] for line in kept if line["leads_running"] is not None]
    return {
        "leads": last["done"],
        "seconds": last["seconds"],
        "leads_per_second": round(last["done"] / last["seconds"], 2),
        "server_cpu_ms_per_lead": round(weighted / weight, 1) if weight else None,
        "rate_per_window": rates,
        "rate_window_seconds": window,
        "rate_fall": rate_fall(rates),
        "leads_running_mean": round(sum(running) / len(running)) if running else None,
    }


def compare_logs(ours_text: str, raw_text: str) -> dict[str, Any]:
    """Both sides of a run that was stopped before its end (a stopped side writes no report),
    compared over the leads both covered, from their progress lines: each side's leads/s and
    server CPU per lead up to the smaller of their last counts, and the ratios ours / raw."""
    ours, raw = read_progress(ours_text), read_progress(raw_text)
    if not ours or not raw:
        raise SystemExit("--compare-logs: each log needs progress lines (the side's stderr)")
    upto = min(ours[-1]["done"], raw[-1]["done"])
    sides = {"followthrough": progress_upto(ours, upto), "raw SDK": progress_upto(raw, upto)}
    cpu = [side["server_cpu_ms_per_lead"] for side in sides.values()]
    rate = [side["leads"] / side["seconds"] for side in sides.values()]  # unrounded
    return {
        "compared_upto_leads": upto,
        "sides": sides,
        "ratio_leads_per_second": round(rate[0] / rate[1], 3),
        "ratio_server_cpu_per_lead": round(cpu[0] / cpu[1], 3) if cpu[0] and cpu[1] else None,
    }


def format_comparison(report: dict[str, Any]) -> str:
    lines = [f"compared over 0-{report['compared_upto_leads']:,} leads, from the progress lines"]
    for name, side in report["sides"].items():
        rates = ", ".join(f"{rate:.2f}" for rate in side["rate_per_window"])
        fall = f"{100 * side['rate_fall']:.1f} %" if side["rate_fall"] is not None else "-"
        lines.append(
            f"{name:>14}: {side['leads']:,} leads in {side['seconds']} s = {side['leads_per_second']:.2f} leads/s; "
            f"server CPU {side['server_cpu_ms_per_lead']} ms/lead; lead workflows running mean "
            f"{side['leads_running_mean']}; per {side['rate_window_seconds']:g} s {rates} (fall {fall})"
        )
    lines.append(
        f"ratios followthrough/raw: leads/s {report['ratio_leads_per_second']}, "
        f"server CPU per lead {report['ratio_server_cpu_per_lead']}"
    )
    return "\n".join(lines)


def format_figures(f: Figures) -> str:
    return (
        f"{f.name:>14}: {f.leads} leads in {f.seconds:.1f} s = {f.leads_per_second:.1f} leads/s; "
        f"largest history {f.largest_history} events ({f.largest_history_workflow}); "
        f"worker peak RSS {f.worker_peak_rss_mb:.0f} MB; CPU per lead: worker {f.worker_cpu_ms_per_lead:.1f} ms, "
        f"server {f.server_cpu_ms_per_lead:.1f} ms; lead history {f.lead_history_events} events / "
        f"{f.lead_history_bytes:.0f} B; lead workflows running (window full) mean {f.leads_running_mean}, "
        f"least {f.leads_running_min}"
        + (
            "; server storage calls per lead: " + ", ".join(f"{op} {n}" for op, n in f.server_ops_per_lead.items())
            if f.server_ops_per_lead
            else ""
        )
    )


def format_windows(f: Figures) -> str:
    """One line per window of the server's readings (empty without ``--server-metrics``)."""
    lines = []
    for w in f.server_windows:
        slowest = ", ".join(f"{op} {ms}" for op, ms in list(w["storage_ms_per_lead_by_op"].items())[:3])
        lines.append(
            f"{f.name:>14}: {w['from_seconds']:>6}-{w['to_seconds']:<6} s {w['leads_per_second']:6.1f} leads/s; "
            f"per lead: server {w['server_cpu_ms_per_lead']} ms, worker {w['worker_cpu_ms_per_lead']} ms CPU, "
            f"{w['storage_ms_per_lead']} ms in storage calls (most: {slowest}); file {w['db_mb']} MB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=100, help="lead workflows in flight")
    parser.add_argument("--continue-as-new-after", type=int, default=1000)
    parser.add_argument("--raw-batch", type=int, default=5000, help="raw parent continues as new every N children")
    parser.add_argument(
        "--reconcile-every",
        type=float,
        default=0,
        help="seconds between the orchestrator's reconcile passes (default: the campaign's own, an hour); "
        "a shorter one brings the pass into a short run",
    )
    parser.add_argument("--sides", nargs="+", default=["ours", "raw"], choices=["ours", "raw"])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--progress-every", type=float, default=60, help="seconds between progress lines (0: none)")
    parser.add_argument(
        "--server-db",
        choices=["file", "memory"],
        default="file",
        help="dev-server persistence: a SQLite file (default) or in memory",
    )
    parser.add_argument(
        "--server-dir",
        default="",
        help="where the dev server's SQLite file goes (default: the run's temporary directory; "
        "/dev/shm for a file-backed server without disk fsyncs)",
    )
    parser.add_argument(
        "--server-journal",
        choices=JOURNAL_MODES,
        default="wal",
        help="the server file's SQLite journal: wal (the product's embedded default) or delete "
        "(SQLite's rollback journal, as before 2026-12-07)",
    )
    parser.add_argument(
        "--server-metrics",
        action="store_true",
        help="serve the dev server's Prometheus metrics and report its storage calls per lead, by operation",
    )
    parser.add_argument(
        "--combine",
        nargs=2,
        metavar="REPORT",
        help="print one report, with the ratios, from two --json reports of one side each (no run)",
    )
    parser.add_argument(
        "--compare-logs",
        nargs=2,
        metavar=("OURS_LOG", "RAW_LOG"),
        help="compare two sides stopped before their end over the leads both covered, from their "
        "progress lines (no run)",
    )
    parser.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--address", default="", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role.startswith("worker-"):
        asyncio.run(run_worker(args.role.removeprefix("worker-"), args.address, args.task_queue))
        # As `followthrough` does: skip interpreter finalization, where the Temporal core's
        # threads can abort the process (PyGILState_Release) after the work is done.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if args.compare_logs:
        comparison = compare_logs(*(Path(path).read_text() for path in args.compare_logs))
        print(json.dumps(comparison, indent=2) if args.json else format_comparison(comparison))
        return
    report = combine_reports(args.combine) if args.combine else asyncio.run(run_bench(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['leads']} leads, window {report['window']}, {report['server']}")
    for side in report["sides"]:
        print(format_figures(Figures(**side)))
        if side.get("server_windows"):
            print(format_windows(Figures(**side)))
    if "ratio_leads_per_second" in report:
        print(
            f"ratios followthrough/raw: leads/s {report['ratio_leads_per_second']}, "
            f"largest history {report['ratio_largest_history']}, worker peak RSS {report['ratio_worker_peak_rss']}, "
            f"CPU per lead: worker {report['ratio_worker_cpu_per_lead']}, server {report['ratio_server_cpu_per_lead']}"
        )


if __name__ == "__main__":
    main()
