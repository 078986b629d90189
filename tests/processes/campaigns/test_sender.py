"""Sender limits end to end on the time-skipping server: the sending window in the account's
zone, the weekly invitation cap, caps under many concurrent leads, workers and campaigns, and
the SenderWorkflow's own contract (continue-as-new keeps the counters, release, validation)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.processes.campaigns.graph import ActionType, LeadOutcome, LeadOutreachInput, LeadOutreachResult
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import (
    AcquireSlotsRequest,
    ReleaseSlotSignal,
    SenderInput,
    SenderLimits,
    SendingWindow,
    SlotGrant,
    SlotRequest,
)
from followthrough.services import Services
from tests.processes.campaigns.outreach_support import FakeProviders, Seeded, outreach_worker, seed

ONE_ACTION = {
    "visit": {
        "nodes": [{"id": "a", "kind": "action", "action": "profile_visit"}, {"id": "z", "kind": "end"}],
        "edges": [{"source": "a", "target": "z"}],
    },
    "invite": {
        "nodes": [{"id": "a", "kind": "action", "action": "send_invitation"}, {"id": "z", "kind": "end"}],
        "edges": [{"source": "a", "target": "z"}],
    },
}


def account(tz: str, **overrides: Any) -> dict[str, Any]:
    """Defaults of a fresh account (09:00–18:00 Mon–Fri, 100 invitations a week), no spacing."""
    values: dict[str, Any] = {
        "timezone": tz,
        "working_hours": {"start": "09:00", "end": "18:00"},
        "working_days": [1, 2, 3, 4, 5],
        "daily_limits": {},
        "weekly_invitation_limit": 100,
        "min_action_spacing_seconds": 0,
        "max_action_spacing_seconds": 0,
    }
    values.update(overrides)
    return values


async def skip_to(env: WorkflowEnvironment, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """Move the server clock to the next ``weekday`` (0 = Monday) at local ``at``."""
    now = (await env.get_current_time()).astimezone(tz)
    day = now.date() + timedelta(days=(weekday - now.weekday()) % 7 or 7)
    target = datetime.combine(day, at, tzinfo=tz)
    await env.sleep(target - now)
    return target


async def start_leads(env: WorkflowEnvironment, seeded: Seeded, task_queue: str) -> list[Any]:
    return [
        await env.client.start_workflow(
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
    ]


async def results_of(handles: list[Any]) -> list[LeadOutreachResult]:
    # One result at a time: each wait unlocks the test server's time skipping, and concurrent
    # waits would unbalance its lock counter.
    return [await h.result() for h in handles]


async def run_leads(env: WorkflowEnvironment, seeded: Seeded, task_queue: str) -> list[LeadOutreachResult]:
    return await results_of(await start_leads(env, seeded, task_queue))


def local(at: datetime, tz: ZoneInfo) -> datetime:
    """A call's instant in the account's zone, to the second."""
    return at.astimezone(tz).replace(microsecond=0)


async def test_an_action_due_saturday_night_goes_out_monday_at_nine_local(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    tz = ZoneInfo("America/New_York")
    saturday = await skip_to(ts_env, 5, time(3, 0), tz)
    fakes = FakeProviders()
    seeded = await seed(services, ONE_ACTION["visit"], account=account("America/New_York"))
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        [result] = await run_leads(ts_env, seeded, task_queue)
    assert result.outcome == LeadOutcome.SUCCEEDED
    [visit] = fakes.calls
    monday_nine = datetime.combine(saturday.date() + timedelta(days=2), time(9, 0), tzinfo=tz)
    assert local(datetime.fromisoformat(result.steps[0].detail["slot"]), tz) == monday_nine  # the grant
    assert monday_nine <= local(visit.at, tz) < monday_nine + timedelta(minutes=1)  # never early


async def test_the_101st_invitation_of_a_week_waits_for_next_weeks_allowance(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    tz = ZoneInfo("Europe/Madrid")
    monday = await skip_to(ts_env, 0, time(9, 0), tz)
    fakes = FakeProviders()
    # the daily cap is lifted to 101 so that the weekly cap of 100 is the binding one
    seeded = await seed(
        services,
        ONE_ACTION["invite"],
        leads=101,
        account=account("Europe/Madrid", daily_limits={"send_invitation": 101}),
    )
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        results = await run_leads(ts_env, seeded, task_queue)
    assert {r.outcome for r in results} == {LeadOutcome.SUCCEEDED}
    times = sorted(local(c.at, tz) for c in fakes.named("linkedin.send_invitation"))
    assert len(times) == 101
    assert all(t.date() == monday.date() for t in times[:100])
    # The 101st slot is granted for next Monday 09:00 exactly; the call itself goes out then
    # (the time-skipping clock may have moved a second while the activity was dispatched).
    next_monday = monday + timedelta(days=7)
    slots = sorted(local(datetime.fromisoformat(r.steps[0].detail["slot"]), tz) for r in results)
    assert slots[:100] == sorted(slots[:100]) and all(t.date() == monday.date() for t in slots[:100])
    assert slots[100] == next_monday
    assert next_monday <= times[100] < next_monday + timedelta(minutes=1)


async def test_concurrent_leads_of_two_campaigns_on_two_workers_never_exceed_the_caps(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    tz = ZoneInfo("Asia/Tokyo")
    monday = await skip_to(ts_env, 0, time(9, 0), tz)
    fakes = FakeProviders()
    tokyo = account("Asia/Tokyo", min_action_spacing_seconds=60, max_action_spacing_seconds=120)
    first = await seed(services, ONE_ACTION["invite"], leads=25, account=tokyo)
    # a second campaign on the same sender account
    second = await seed(services, ONE_ACTION["invite"], leads=25, account=tokyo)
    second = Seeded(second.campaign_id, first.account_id, second.lead_ids)
    # A second process's worker: its own connection to the same server and task queue.
    other = await Client.connect(
        ts_env.client.service_client.config.target_host, data_converter=ts_env.client.data_converter
    )
    async with (
        outreach_worker(ts_env.client, services, fakes, task_queue),
        outreach_worker(other, services, fakes, task_queue),
    ):
        handles = await start_leads(ts_env, first, task_queue) + await start_leads(ts_env, second, task_queue)
        results = await results_of(handles)
    assert {r.outcome for r in results} == {LeadOutcome.SUCCEEDED}
    times = sorted(local(c.at, tz) for c in fakes.named("linkedin.send_invitation"))
    assert len(times) == 50
    per_day = Counter(t.date() for t in times)
    # 100 a week over five working days: 20 a day, so 50 invitations take Mon, Tue and half of Wed
    assert sorted(per_day.values(), reverse=True) == [20, 20, 10]
    assert min(per_day) == monday.date()
    window = SendingWindow(timezone="Asia/Tokyo")
    assert all(window.contains(t) for t in times)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False) if a.date() == b.date()]
    assert min(gaps) >= 59  # human-like spacing: at least a minute apart (to the second)
    assert max(gaps) <= 121


def request(key: str, limits: SenderLimits, not_before: datetime) -> AcquireSlotsRequest:
    one = SlotRequest(request_key=key, action=ActionType.PROFILE_VISIT, not_before=not_before)
    return AcquireSlotsRequest(requests=[one], limits=limits)


async def acquire(
    env: WorkflowEnvironment, account_id: str, task_queue: str, req: AcquireSlotsRequest, **kw: Any
) -> tuple[SlotGrant, str]:
    """Ask ``sender-{account_id}`` for a batch of one slot as the activity does; returns it and the run id."""
    start = WithStartWorkflowOperation(
        SenderWorkflow.run,
        SenderInput(account_id=account_id, **kw),
        id=f"sender-{account_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer = await env.client.execute_update_with_start_workflow(
        SenderWorkflow.acquire_many, req, start_workflow_operation=start
    )
    handle = await start.workflow_handle()
    [grant] = answer.grants
    return grant, handle.first_execution_run_id or ""


ALWAYS = SendingWindow(start=time(0), end=time(0), days=[1, 2, 3, 4, 5, 6, 7])


async def test_continue_as_new_keeps_the_counters(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    limits = SenderLimits(window=ALWAYS, daily_caps={"profile_visit": 5}, min_spacing_seconds=0, max_spacing_seconds=0)
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SenderWorkflow]):
        now = await ts_env.get_current_time()
        answers = [
            await acquire(ts_env, account_id, task_queue, request(f"k{i}", limits, now), grants_per_run=2)
            for i in range(7)
        ]
        handle = ts_env.client.get_workflow_handle(f"sender-{account_id}")
        status = await handle.query(SenderWorkflow.status)
        latest = await handle.describe()
    grants = [g for g, _ in answers]
    first_run = answers[0][1]
    assert latest.run_id != first_run  # it continued as new (every two grants)
    today = now.astimezone(UTC).date()
    assert [g.day for g in grants] == [today.isoformat()] * 5 + [(today + timedelta(days=1)).isoformat()] * 2
    assert status.granted_total == 7


async def test_a_retried_request_gets_its_slot_back_and_a_release_frees_it(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    limits = SenderLimits(window=ALWAYS, daily_caps={"profile_visit": 1}, min_spacing_seconds=0, max_spacing_seconds=0)
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SenderWorkflow]):
        now = await ts_env.get_current_time()
        first, _ = await acquire(ts_env, account_id, task_queue, request("same", limits, now))
        again, _ = await acquire(ts_env, account_id, task_queue, request("same", limits, now))
        assert again == first
        handle = ts_env.client.get_workflow_handle(f"sender-{account_id}")
        await handle.signal(SenderWorkflow.release, ReleaseSlotSignal(grant=first))
        second, _ = await acquire(ts_env, account_id, task_queue, request("other", limits, now))
        status = await handle.query(SenderWorkflow.status)
    assert second.day == first.day  # the released slot was free again today
    assert (status.granted_total, status.released_total) == (2, 1)


async def test_a_naive_not_before_is_refused_by_the_validator(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SenderWorkflow]):
        with pytest.raises(WorkflowUpdateFailedError):
            await acquire(ts_env, account_id, task_queue, request("naive", SenderLimits(), datetime(2030, 1, 1)))
        status = await ts_env.client.get_workflow_handle(f"sender-{account_id}").query(SenderWorkflow.status)
    assert status.granted_total == 0


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    """Keeps tests/histories/sender/*.json; rewritten only when missing or RECORD_HISTORIES=1."""
    from tests.record import HISTORIES

    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    limits = SenderLimits(window=SendingWindow(timezone="Europe/Madrid"), daily_caps={"profile_visit": 2})
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[SenderWorkflow]):
        now = await ts_env.get_current_time()
        grant, first_run = await acquire(ts_env, account_id, task_queue, request("k0", limits, now), grants_per_run=3)
        handle = ts_env.client.get_workflow_handle(f"sender-{account_id}", run_id=first_run)
        await handle.signal(SenderWorkflow.release, ReleaseSlotSignal(grant=grant))
        for i in range(1, 4):  # the third grant of the run makes it continue as new
            await acquire(ts_env, account_id, task_queue, request(f"k{i}", limits, now), grants_per_run=3)
        path = HISTORIES / "sender" / "grants_release_continue_as_new.json"
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            history = await handle.fetch_history()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(history.to_json())
    assert path.exists()
    assert (
        "WorkflowExecutionContinuedAsNew" in path.read_text() or "workflowExecutionContinuedAsNew" in path.read_text()
    )


async def test_a_lead_paused_while_waiting_for_its_slot_gives_it_back_and_never_sends_late(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    from followthrough.temporal.signals import PauseSignal, ResumeSignal

    tz = ZoneInfo("Europe/Madrid")
    saturday = await skip_to(ts_env, 5, time(3, 0), tz)
    fakes = FakeProviders()
    seeded = await seed(services, ONE_ACTION["visit"], account=account("Europe/Madrid"))
    sender = ts_env.client.get_workflow_handle(f"sender-{seeded.account_id}")
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        [handle] = await start_leads(ts_env, seeded, task_queue)
        for _ in range(200):  # until the lead holds a slot for Monday 09:00
            try:
                if (await sender.query(SenderWorkflow.status)).granted_total == 1:
                    break
            except Exception:  # not started yet
                pass
            await asyncio.sleep(0.02)
        await handle.signal(LeadOutreachWorkflow.pause, PauseSignal())
        tuesday_noon = datetime.combine(saturday.date() + timedelta(days=3), time(12, 0), tzinfo=tz)
        await ts_env.sleep(tuesday_noon - (await ts_env.get_current_time()))
        assert fakes.calls == []  # Monday 09:00 passed while paused: nothing went out
        status = await sender.query(SenderWorkflow.status)
        assert (status.granted_total, status.released_total) == (1, 1)
        await handle.signal(LeadOutreachWorkflow.resume, ResumeSignal())
        [result] = await results_of([handle])
    assert result.outcome == LeadOutcome.SUCCEEDED
    [visit] = fakes.calls
    # a fresh slot at resume time (Tuesday, inside the window), not the stale Monday one
    assert local(visit.at, tz).date() == tuesday_noon.date()
    assert SendingWindow(timezone="Europe/Madrid").contains(visit.at)
