"""The sender's caps under real concurrency on the real dev server: many ``outreach.acquire_slot``
calls at once, from two client connections (two worker processes, each with its own batcher),
racing to start the coordinator with update-with-start. None is refused, one coordinator serves
them all, no day exceeds its cap; and a burst of 500 never meets Temporal's limit of 10
in-flight updates per workflow, as the server's own ``RESOURCE_EXHAUSTED`` count shows."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from followthrough.processes.campaigns.grants import SlotBatcher
from followthrough.processes.campaigns.graph import ActionType, LeadOutreachInput
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import (
    AcquireSlotsRequest,
    SenderInput,
    SenderLimits,
    SendingWindow,
    SlotGrant,
    SlotRequest,
)
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.processes.campaigns.steps import AcquireSlotInput
from followthrough.services import Services
from followthrough.temporal import DevServer
from tests.processes.campaigns.outreach_support import FakeProviders, outreach_worker, seed

pytestmark = pytest.mark.devserver
T = TypeVar("T")

GRAPH = {
    "nodes": [{"id": "a", "kind": "action", "action": "send_invitation"}, {"id": "z", "kind": "end"}],
    "edges": [{"source": "a", "target": "z"}],
}
ALWAYS_OPEN_7_A_DAY = {
    "timezone": "Europe/Madrid",
    "working_hours": {"start": "00:00", "end": "00:00"},
    "working_days": [1, 2, 3, 4, 5, 6, 7],
    "daily_limits": {"send_invitation": 7},
    "weekly_invitation_limit": 0,
    "min_action_spacing_seconds": 0,
    "max_action_spacing_seconds": 0,
}


def activity_env(client: Client, task_queue: str) -> ActivityEnvironment:
    env = ActivityEnvironment(client=client)
    env.info = dataclasses.replace(env.info, task_queue=task_queue)
    return env


async def test_concurrent_acquires_from_two_connections_never_exceed_the_daily_cap(
    dev_client: Client, services: Services, task_queue: str
) -> None:
    seeded = await seed(services, GRAPH, account=ALWAYS_OPEN_7_A_DAY)
    other = await Client.connect(dev_client.service_client.config.target_host, data_converter=dev_client.data_converter)
    outreach = OutreachActivities(services)
    envs = [activity_env(dev_client, task_queue), activity_env(other, task_queue)]
    now = datetime.now(UTC)
    async with Worker(dev_client, task_queue=task_queue, workflows=[SenderWorkflow]):
        grants: list[SlotGrant] = await asyncio.gather(
            *(
                envs[i % 2].run(
                    outreach.acquire_slot,
                    AcquireSlotInput(
                        account_id=seeded.account_id,
                        request_key=f"req-{i}-{uuid.uuid4().hex[:6]}",
                        action="send_invitation",
                        not_before=now,
                    ),
                )
                for i in range(30)
            )
        )
        sender = dev_client.get_workflow_handle(f"sender-{seeded.account_id}")
        status = await sender.query(SenderWorkflow.status)
        await sender.terminate("test over")
    per_day = Counter(g.day for g in grants)
    assert sorted(per_day.values(), reverse=True) == [7, 7, 7, 7, 2]
    assert status.granted_total == 30


#: Always open, 120 invitations a day, 30 to 60 s between two actions: 500 take five days.
CAPPED_120_A_DAY = {
    **ALWAYS_OPEN_7_A_DAY,
    "daily_limits": {"send_invitation": 120},
    "min_action_spacing_seconds": 30,
    "max_action_spacing_seconds": 60,
}


async def refused_for_limits(server: DevServer) -> int:
    """How many requests the server's frontend has answered ``RESOURCE_EXHAUSTED`` so far (its
    own Prometheus counter; each one is a retry with backoff for the client)."""
    assert server.metrics_url is not None
    url = server.metrics_url
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("service_errors_resource_exhausted{") and 'service_name="frontend"' in line
    )


async def test_a_burst_of_500_slot_requests_on_one_sender_is_never_refused_and_keeps_the_caps(
    dev_server: DevServer, dev_client: Client, services: Services, task_queue: str
) -> None:
    seeded = await seed(services, GRAPH, account=CAPPED_120_A_DAY)
    other = await Client.connect(dev_client.service_client.config.target_host, data_converter=dev_client.data_converter)
    # Two worker processes: each its own connection and its own OutreachActivities (its batcher).
    processes = [OutreachActivities(services), OutreachActivities(services)]
    envs = [activity_env(dev_client, task_queue), activity_env(other, task_queue)]
    keys = [f"campaign-{seeded.campaign_id}-lead-{i}:a:1" for i in range(500)]
    now = datetime.now(UTC)

    def ask(key: str, process: int) -> Any:
        slot = AcquireSlotInput(account_id=seeded.account_id, request_key=key, action="send_invitation", not_before=now)
        return envs[process].run(processes[process].acquire_slot, slot)

    before = await refused_for_limits(dev_server)
    async with Worker(dev_client, task_queue=task_queue, workflows=[SenderWorkflow]):
        started = time.monotonic()
        # 500 leads at once, and 50 of them again from the other process (an activity retried
        # while its first attempt was still waiting for its slot).
        grants: list[SlotGrant] = await asyncio.gather(
            *(ask(key, i % 2) for i, key in enumerate(keys)),
            *(ask(key, (i + 1) % 2) for i, key in enumerate(keys[:50])),
        )
        took = time.monotonic() - started
        sender = dev_client.get_workflow_handle(f"sender-{seeded.account_id}")
        status = await sender.query(SenderWorkflow.status)
        await sender.terminate("test over")
    refused = await refused_for_limits(dev_server) - before
    updates = sum(p.slot_batches.stats.updates for p in processes)
    carried = sum(p.slot_batches.stats.requests for p in processes)
    largest = max(p.slot_batches.stats.largest for p in processes)
    print(f"\n500 leads (+50 retries): {took:.2f} s, {updates} updates, {carried / updates:.1f} a batch, max {largest}")

    assert refused == 0
    assert status.granted_total == 500  # one slot per request, the 50 repeats got theirs back
    first, again = grants[:500], grants[500:]
    assert again == first[:50]
    assert [g.request_key for g in first] == keys
    assert updates < 100 and largest > 1  # batched: far fewer updates than requests
    per_day = Counter(g.day for g in first)
    assert max(per_day.values()) <= 120 and len(per_day) >= 5
    times = sorted(g.at for g in first)
    assert times[0] >= now
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= timedelta(seconds=30)


async def test_unbatched_updates_of_a_burst_are_refused_and_the_count_shows_it(
    dev_server: DevServer, dev_client: Client, task_queue: str
) -> None:
    """The control of the test above: the same server counts refusals when one update per
    request races for the 10 places (what ``acquire_slot`` used to do)."""
    limits = SenderLimits(window=SendingWindow(start=clock(0), end=clock(0), days=list(range(1, 8))))
    now = datetime.now(UTC)
    before = await refused_for_limits(dev_server)
    async with Worker(dev_client, task_queue=task_queue, workflows=[SenderWorkflow]):
        handle: WorkflowHandle[Any, Any] = await dev_client.start_workflow(
            SenderWorkflow.run,
            SenderInput(account_id=f"acct-{uuid.uuid4().hex[:8]}"),
            id=f"sender-control-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        one = [
            AcquireSlotsRequest(
                requests=[SlotRequest(request_key=f"k{i}", action=ActionType.PROFILE_VISIT, not_before=now)],
                limits=limits,
            )
            for i in range(60)
        ]
        answers = await asyncio.gather(*(handle.execute_update(SenderWorkflow.acquire_many, b) for b in one))
        await handle.terminate("test over")
    refused = await refused_for_limits(dev_server) - before
    print(f"\n60 unbatched updates at once: {refused} refused with RESOURCE_EXHAUSTED")
    assert len({a.grants[0].request_key for a in answers}) == 60  # all granted in the end...
    assert refused > 0  # ...after refusals and retries


async def test_a_burst_across_continue_as_new_grants_every_request_once(
    dev_server: DevServer, dev_client: Client, services: Services, task_queue: str
) -> None:
    seeded = await seed(services, GRAPH, account=CAPPED_120_A_DAY)
    outreach = OutreachActivities(services)
    outreach.slot_batches = SlotBatcher(max_batch=10)  # 20 updates or more, some reaching a closing run
    env = activity_env(dev_client, task_queue)
    now = datetime.now(UTC)
    async with Worker(dev_client, task_queue=task_queue, workflows=[SenderWorkflow]):
        # The coordinator continues as new every 40 grants: batches reach runs that are closing.
        first = await dev_client.start_workflow(
            SenderWorkflow.run,
            SenderInput(account_id=seeded.account_id, grants_per_run=40),
            id=f"sender-{seeded.account_id}",
            task_queue=task_queue,
        )
        grants: list[SlotGrant] = await asyncio.gather(
            *(
                env.run(
                    outreach.acquire_slot,
                    AcquireSlotInput(
                        account_id=seeded.account_id, request_key=f"lead-{i}", action="send_invitation", not_before=now
                    ),
                )
                for i in range(200)
            )
        )
        sender = dev_client.get_workflow_handle(f"sender-{seeded.account_id}")
        status = await sender.query(SenderWorkflow.status)
        latest = await sender.describe()
        await sender.terminate("test over")
    stats = outreach.slot_batches.stats
    print(f"\n200 requests across continue-as-new: {stats.updates} updates, {stats.failures} failed")
    assert latest.run_id != first.result_run_id  # it did continue as new
    assert status.granted_total == 200
    assert len({g.at for g in grants}) == 200
    assert max(Counter(g.day for g in grants).values()) <= 120


def zone_at_noon(now: datetime) -> str:
    """A fixed-offset zone where ``now`` is around midday, so the local day does not turn
    during the test (``Etc/GMT-N`` is UTC+N)."""
    offset = 12 - now.hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


#: What a poll may meet before the answer exists: no sender yet, or a query not answered in time.
_NOT_YET = (RPCStatusCode.NOT_FOUND, RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


async def eventually(check: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 180) -> T:
    """``check()`` until ``done`` or ``within`` seconds; a workflow not started yet (the sender
    starts with the first slot request, which a loaded machine may not have reached) is waited for,
    and so is a query that timed out while every workflow-task slot of the worker was busy."""
    deadline = time.monotonic() + within
    while True:
        try:
            value = await check()
        except RPCError as exc:
            if exc.status not in _NOT_YET or time.monotonic() > deadline:
                raise
        else:
            if done(value) or time.monotonic() > deadline:
                return value
        await asyncio.sleep(0.25)


async def terminate(handle: WorkflowHandle[Any, Any]) -> None:
    try:
        await handle.terminate("test over")
    except RPCError as exc:  # finished already
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def test_a_window_of_500_leads_on_one_capped_sender_meets_no_update_limit(
    dev_server: DevServer, dev_client: Client, services: Services, task_queue: str
) -> None:
    """500 real lead workflows reach their action at once on one sender capped at 120 a day:
    none of their slot requests is refused, 120 act today, the other 380 sleep durably until
    the days their slots fall on."""
    now = datetime.now(UTC)
    capped = {**ALWAYS_OPEN_7_A_DAY, "timezone": zone_at_noon(now), "daily_limits": {"send_invitation": 120}}
    seeded = await seed(services, GRAPH, leads=500, account=capped)
    fakes = FakeProviders()
    sender = dev_client.get_workflow_handle(f"sender-{seeded.account_id}")
    running = f"TaskQueue = '{task_queue}' AND WorkflowType = 'LeadOutreachWorkflow' AND ExecutionStatus = 'Running'"

    async def still_running() -> int:
        return (await dev_client.count_workflows(running)).count

    before = await refused_for_limits(dev_server)
    # As many workflow-task slots as a production worker has by default (TEMPORAL_MAX_CONCURRENT_WORKFLOWS):
    # far fewer than the leads waiting for a slot at once, and the sender needs one to answer them.
    slots = services.settings.temporal_max_concurrent_workflows
    async with outreach_worker(dev_client, services, fakes, task_queue, max_concurrent_workflow_tasks=slots):
        started = time.monotonic()
        leads = await asyncio.gather(
            *(
                dev_client.start_workflow(
                    LeadOutreachWorkflow.run,
                    LeadOutreachInput(
                        campaign_id=seeded.campaign_id,
                        organization_id="org-1",
                        lead_id=lead_id,
                        sender_account_id=seeded.account_id,
                    ),
                    id=f"campaign-{seeded.campaign_id}-lead-{lead_id}",
                    task_queue=task_queue,
                )
                for lead_id in seeded.lead_ids
            )
        )
        all_started = time.monotonic() - started
        status = await eventually(lambda: sender.query(SenderWorkflow.status), lambda s: s.granted_total == 500)
        took = time.monotonic() - started
        waiting = await eventually(still_running, lambda n: n == 380)
        await asyncio.sleep(1)  # nothing more goes out today
        sent = len(fakes.calls)
        first_run = dev_client.get_workflow_handle(
            sender.id, run_id=(await sender.describe()).raw_description.workflow_execution_info.first_run_id
        )
        history = await first_run.fetch_history()
        accepted = [
            e.event_time.ToDatetime()
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        updates, span = len(accepted), (accepted[-1] - accepted[0]).total_seconds()
        await asyncio.gather(*(terminate(h) for h in leads), terminate(sender))
    refused = await refused_for_limits(dev_server) - before
    print(
        f"\n500 lead workflows: started in {all_started:.1f} s, every slot granted {took:.1f} s after the first"
        f" start, in {updates} updates over {span:.1f} s"
    )
    assert refused == 0
    assert status.granted_total == 500 and status.today == {"send_invitation": 120}
    assert sent == 120  # the day's cap; the others sleep until their own day
    assert waiting == 380
    assert updates < 100  # batched: one update carries many leads' requests
