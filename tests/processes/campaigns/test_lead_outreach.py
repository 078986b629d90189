"""LeadOutreachWorkflow on the time-skipping server: every branch, pause/resume, stop, reply.

The store activities are the real ones (on the per-test SQLite store); the provider activities
are fakes under the contract names (``linkedin.*``, ``messaging.send``) that record the server
instant each call was scheduled at.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from followthrough.leads.models import LeadRepliedSignal
from followthrough.processes.campaigns.graph import (
    LeadFinishedSignal,
    LeadOutcome,
    LeadOutreachInput,
    LeadOutreachResult,
    StopSignal,
)
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.lead_rules import LEAD_DEADLINE
from followthrough.services import Services
from followthrough.temporal.signals import PauseSignal, ResumeSignal
from tests.processes.campaigns.outreach_support import (
    FakeProviders,
    Seeded,
    execution_record,
    outreach_worker,
    permanent,
    seed,
)

#: visit -> invite -> accepted within 3 days? yes: message -> goal; no: withdraw -> end
INVITE_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "invite", "kind": "action", "action": "send_invitation", "config": {"note": "Hi {first_name}!"}},
        {"id": "accepted", "kind": "condition", "condition": "invitation_accepted", "within_days": 3},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Thanks {first_name}"}},
        {"id": "won", "kind": "goal"},
        {"id": "withdraw", "kind": "action", "action": "withdraw_invitation"},
        {"id": "lost", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "invite"},
        {"source": "invite", "target": "accepted"},
        {"source": "accepted", "target": "hello", "branch": "true"},
        {"source": "accepted", "target": "withdraw", "branch": "false"},
        {"source": "hello", "target": "won"},
        {"source": "withdraw", "target": "lost"},
    ],
}

#: visit -> wait 1 day -> message -> end
DELAY_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "wait", "kind": "delay", "duration": 1, "unit": "calendar"},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi {first_name}"}},
        {"id": "done", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "wait"},
        {"source": "wait", "target": "hello"},
        {"source": "hello", "target": "done"},
    ],
}


def lead_input(seeded: Seeded, index: int = 0, parent: str | None = None) -> LeadOutreachInput:
    return LeadOutreachInput(
        campaign_id=seeded.campaign_id,
        organization_id="org-1",
        lead_id=seeded.lead_ids[index],
        sender_account_id=seeded.account_id,
        parent_workflow_id=parent,
    )


async def start(env: WorkflowEnvironment, seeded: Seeded, task_queue: str, **kwargs: Any) -> WorkflowHandle[Any, Any]:
    payload = lead_input(seeded, **kwargs)
    return await env.client.start_workflow(
        LeadOutreachWorkflow.run,
        payload,
        id=f"campaign-{payload.campaign_id}-lead-{payload.lead_id}",
        task_queue=task_queue,
    )


def elapsed(earlier: Any, later: Any) -> timedelta:
    """Server time between two calls, to the second (each workflow task takes a few ms)."""
    return timedelta(seconds=round((later.at - earlier.at).total_seconds()))


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Poll a condition on the test's side (a fake's record) without sleeping on the server."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_invitation_accepted_within_the_window_takes_the_true_branch(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(statuses=["pending", "accepted"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.GOAL_REACHED
    assert result.ended_at_node == "won"
    assert fakes.actions == ["linkedin.visit_profile", "linkedin.send_invitation", "linkedin.send_message"]
    invite = fakes.named("linkedin.send_invitation")[0]
    polls = fakes.named("linkedin.invitation_status")
    # polled once a day: accepted at the second poll, two days after the invitation
    assert [elapsed(invite, p) for p in polls] == [timedelta(days=1), timedelta(days=2)]
    assert invite.input.note == "Hi Ana!"
    assert invite.input.account_id.startswith("unipile-")
    assert fakes.named("linkedin.send_message")[0].input.text == "Thanks Ana"
    assert [s.branch for s in result.steps if s.kind == "condition"] == [True]


async def test_invitation_not_accepted_within_n_days_takes_the_false_branch(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(statuses=["pending"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        result: LeadOutreachResult = await (await start(ts_env, seeded, task_queue)).result()
    assert result.outcome == LeadOutcome.SUCCEEDED
    assert result.ended_at_node == "lost"
    assert fakes.actions == [
        "linkedin.visit_profile",
        "linkedin.send_invitation",
        "linkedin.withdraw_invitation",
    ]
    invite = fakes.named("linkedin.send_invitation")[0]
    withdraw = fakes.named("linkedin.withdraw_invitation")[0]
    assert len(fakes.named("linkedin.invitation_status")) == 3
    assert elapsed(invite, withdraw) == timedelta(days=3)
    assert withdraw.input.invitation_id == f"inv-{invite.input.identifier}"


async def test_a_reply_ends_the_sequence_with_goal_reached(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(statuses=["pending"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await wait_for(lambda: fakes.named("linkedin.send_invitation"))
        for _ in range(200):  # until it waits on the acceptance
            if (await handle.query(LeadOutreachWorkflow.status)).current_node == "accepted":
                break
            await asyncio.sleep(0.02)
        await handle.signal(LeadOutreachWorkflow.lead_replied, LeadRepliedSignal(message_id="m-1"))
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.GOAL_REACHED
    assert result.ended_at_node == "accepted"
    assert "linkedin.withdraw_invitation" not in fakes.actions
    assert "linkedin.send_message" not in fakes.actions
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and record.status == "goal_reached"


async def test_the_execution_record_follows_every_step(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(statuses=["accepted"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await handle.result()
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None
    assert record.status == "goal_reached"
    assert record.workflow_execution_id == handle.id
    # visit, invite, accepted, hello (the longest path has 4 steps before the goal)
    assert (record.current_step, record.total_steps) == (4, 4)
    steps = record.execution_data["steps"]
    assert [(s["step"], s["node_id"], s["status"]) for s in steps] == [
        (1, "visit", "done"),
        (2, "invite", "done"),
        (3, "accepted", "done"),
        (4, "hello", "done"),
    ]
    assert steps[1]["detail"]["invitation_id"].startswith("inv-")
    assert record.execution_data["outcome"] == "goal_reached"
    assert record.started_at is not None and record.completed_at is not None


#: visit -> like -> invite -> end: three actions back to back (a lifted sender never waits)
BACK_TO_BACK_GRAPH: dict[str, Any] = {
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


async def local_activity_count(handle: WorkflowHandle[Any, Any]) -> int:
    """How many local activities (store and slot calls) the lead ran: their markers."""
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


async def steps_in_record(services: Services, seeded: Seeded, count: int) -> list[str]:
    """The record's steps (node ids) once it holds ``count`` of them, polled from the store."""
    for _ in range(500):
        record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
        if record is not None and len(record.execution_data.get("steps", [])) >= count:
            assert record.status == "in_progress" and record.current_step == count
            return [s["node_id"] for s in record.execution_data["steps"]]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the record never held {count} steps")


async def test_actions_back_to_back_write_the_record_only_at_open_and_finish(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """A lead that never waits opens and closes its record (two local activities), its three
    steps riding with ``finish``, where one call a step used to follow each action."""
    fakes = FakeProviders()
    seeded = await seed(services, BACK_TO_BACK_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        result: LeadOutreachResult = await handle.result()
        assert await local_activity_count(handle) == 2
    assert result.outcome == LeadOutcome.SUCCEEDED
    assert fakes.actions == ["linkedin.visit_profile", "linkedin.like_posts", "linkedin.send_invitation"]
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and (record.status, record.current_step) == ("completed", 3)
    assert [(s["step"], s["node_id"]) for s in record.execution_data["steps"]] == [
        (1, "visit"),
        (2, "like"),
        (3, "invite"),
    ]


async def test_the_record_is_current_while_the_lead_waits_out_a_delay(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        # Time only skips while the test awaits the result: the lead sits in its one-day delay.
        assert await steps_in_record(services, seeded, 1) == ["visit"]
        status = await handle.query(LeadOutreachWorkflow.status)
        assert (status.state, status.current_node) == ("waiting", "wait")
        await handle.result()
        # open, the visit recorded before the delay, finish (the delay's step and the message)
        assert await local_activity_count(handle) == 3
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and [s["node_id"] for s in record.execution_data["steps"]] == ["visit", "wait", "hello"]


async def test_a_paused_lead_has_its_steps_recorded_before_it_holds(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(block={"linkedin.visit_profile"})
    seeded = await seed(services, BACK_TO_BACK_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await asyncio.wait_for(fakes.started.wait(), 10)
        await handle.signal(LeadOutreachWorkflow.pause, PauseSignal(reason="test"))
        fakes.release.set()  # the visit finishes; the lead holds before the like
        assert await steps_in_record(services, seeded, 1) == ["visit"]
        assert (await handle.query(LeadOutreachWorkflow.status)).state == "paused"
        assert fakes.actions == ["linkedin.visit_profile"]
        await handle.signal(LeadOutreachWorkflow.resume, ResumeSignal())
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.SUCCEEDED
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and [s["node_id"] for s in record.execution_data["steps"]] == ["visit", "like", "invite"]


async def test_pause_holds_before_the_next_action_and_resume_continues(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await wait_for(lambda: fakes.named("linkedin.visit_profile"))
        await handle.signal(LeadOutreachWorkflow.pause, PauseSignal(reason="test"))
        await ts_env.sleep(timedelta(days=3))  # the delay ends; the message must not go out
        status = await handle.query(LeadOutreachWorkflow.status)
        assert status.state == "paused"
        assert fakes.actions == ["linkedin.visit_profile"]
        await handle.signal(LeadOutreachWorkflow.resume, ResumeSignal())
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.SUCCEEDED
    assert fakes.actions == ["linkedin.visit_profile", "linkedin.send_message"]
    visit, message = fakes.calls
    assert elapsed(visit, message) >= timedelta(days=3)


async def test_stop_during_a_delay_ends_cleanly_without_further_actions(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await wait_for(lambda: fakes.named("linkedin.visit_profile"))
        await handle.signal(LeadOutreachWorkflow.stop, StopSignal(complete_current_executions=True))
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.STOPPED
    assert fakes.actions == ["linkedin.visit_profile"]
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and record.status == "stopped"


async def test_stop_without_completing_cancels_the_action_under_way(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(block={"linkedin.visit_profile"})
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await asyncio.wait_for(fakes.started.wait(), 10)
        await handle.signal(LeadOutreachWorkflow.stop, StopSignal(complete_current_executions=False))
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.STOPPED
    assert fakes.cancelled == ["linkedin.visit_profile"]
    assert [(s.node_id, s.status) for s in result.steps] == [("visit", "cancelled")]
    assert "linkedin.send_message" not in fakes.actions
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and record.status == "stopped" and record.current_step == 1


async def test_stop_completing_current_lets_the_action_under_way_finish(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(block={"linkedin.visit_profile"})
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await asyncio.wait_for(fakes.started.wait(), 10)
        await handle.signal(LeadOutreachWorkflow.stop, StopSignal(complete_current_executions=True))
        await asyncio.sleep(0.2)
        fakes.release.set()
        result: LeadOutreachResult = await handle.result()
    assert result.outcome == LeadOutcome.STOPPED
    assert fakes.actions == ["linkedin.visit_profile"]
    assert [(s.node_id, s.status) for s in result.steps] == [("visit", "done")]


async def test_a_permanent_provider_error_fails_the_lead(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(fail={"linkedin.send_invitation": permanent("profile not found")})
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        result: LeadOutreachResult = await (await start(ts_env, seeded, task_queue)).result()
    assert result.outcome == LeadOutcome.FAILED
    assert result.steps[-1].node_id == "invite"
    assert result.steps[-1].error == "ValidationError: profile not found"
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and record.status == "failed"
    # the failing step, the walk's last, is stored with the closing call
    last = record.execution_data["steps"][-1]
    assert (last["node_id"], last["status"], last["error"]) == (
        "invite",
        "failed",
        "ValidationError: profile not found",
    )


async def test_sending_day_delays_skip_the_weekend(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    graph = {
        "nodes": [
            {"id": "visit", "kind": "action", "action": "profile_visit"},
            {"id": "wait", "kind": "delay", "duration": 1, "unit": "sending_days"},
            {"id": "like", "kind": "action", "action": "like_post", "config": {"number_of_posts": 2}},
            {"id": "done", "kind": "end"},
        ],
        "edges": [
            {"source": "visit", "target": "wait"},
            {"source": "wait", "target": "like"},
            {"source": "like", "target": "done"},
        ],
    }
    account = {
        "timezone": "UTC",
        "working_hours": {"start": "00:00", "end": "00:00"},
        "working_days": [1, 2, 3, 4, 5],
        "min_action_spacing_seconds": 0,
        "max_action_spacing_seconds": 0,
    }
    now = await ts_env.get_current_time()
    friday_noon = (now + timedelta(days=(4 - now.weekday()) % 7 or 7)).replace(hour=12, minute=0, second=0)
    await ts_env.sleep(friday_noon - now)
    fakes = FakeProviders()
    seeded = await seed(services, graph, account=account)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        result: LeadOutreachResult = await (await start(ts_env, seeded, task_queue)).result()
    assert result.outcome == LeadOutcome.SUCCEEDED
    visit, like = fakes.calls
    assert visit.at.weekday() == 4
    assert like.at.weekday() == 0  # one sending day after Friday is Monday, same time of day
    assert elapsed(visit, like) == timedelta(days=3)
    assert like.input.number_of_posts == 2


async def test_profile_has_and_whatsapp(ts_env: WorkflowEnvironment, services: Services, task_queue: str) -> None:
    graph = {
        "nodes": [
            {"id": "has_phone", "kind": "condition", "condition": "profile_has", "field": "phone"},
            {"id": "ws", "kind": "action", "action": "send_whatsapp", "config": {"text": "Hola {first_name}"}},
            {"id": "visit", "kind": "action", "action": "profile_visit"},
            {"id": "end_a", "kind": "end"},
            {"id": "end_b", "kind": "end"},
        ],
        "edges": [
            {"source": "has_phone", "target": "ws", "branch": "true"},
            {"source": "has_phone", "target": "visit", "branch": "false"},
            {"source": "ws", "target": "end_a"},
            {"source": "visit", "target": "end_b"},
        ],
    }
    fakes = FakeProviders()
    with_phone = await seed(services, graph, lead_fields={"phone": "+34600111222"})
    without = await seed(services, graph)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        first: LeadOutreachResult = await (await start(ts_env, with_phone, task_queue)).result()
        second: LeadOutreachResult = await (await start(ts_env, without, task_queue)).result()
    assert (first.ended_at_node, second.ended_at_node) == ("end_a", "end_b")
    assert fakes.actions == ["messaging.send", "linkedin.visit_profile"]
    assert fakes.calls[0].input.text == "Hola Ana"
    assert fakes.calls[0].input.to == "+34600111222"


async def test_a_missing_campaign_fails_the_lead_and_tells_the_parent(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    broken = Seeded(campaign_id="no-such-campaign", account_id=seeded.account_id, lead_ids=seeded.lead_ids)
    async with outreach_worker(ts_env.client, services, fakes, task_queue, extra_workflows=[FakeParent]):
        parent = await ts_env.client.start_workflow(
            FakeParent.run, id=f"parent-{seeded.campaign_id}", task_queue=task_queue
        )
        result: LeadOutreachResult = await (await start(ts_env, broken, task_queue, parent=parent.id)).result()
        finished: LeadFinishedSignal = await parent.result()
    assert result.outcome == LeadOutcome.FAILED
    assert finished == LeadFinishedSignal(lead_id=seeded.lead_ids[0], outcome=LeadOutcome.FAILED)
    assert fakes.calls == []


async def test_the_parent_is_told_when_the_lead_finishes(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders(statuses=["accepted"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue, extra_workflows=[FakeParent]):
        parent = await ts_env.client.start_workflow(
            FakeParent.run, id=f"parent-{seeded.campaign_id}", task_queue=task_queue
        )
        lead = await start(ts_env, seeded, task_queue, parent=parent.id)
        await lead.result()
        finished: LeadFinishedSignal = await parent.result()
        events = [event.event_type for event in (await lead.fetch_history()).events]
    assert finished == LeadFinishedSignal(lead_id=seeded.lead_ids[0], outcome=LeadOutcome.GOAL_REACHED)
    # Told by the closing local activity, not by a signal command.
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in events
    closing = events[events.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) - 2 :]
    assert closing[:2] == [EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_MARKER_RECORDED]


async def test_a_lead_past_its_30_days_ends_failed_closes_its_record_and_tells_the_parent(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """The 30-day bound is the lead's own (no execution timeout): a wait that would run past it
    ends there, the lead fails as the timeout's reconcile counted it, and its record is closed."""
    graph = {
        "nodes": [
            {"id": "visit", "kind": "action", "action": "profile_visit"},
            {"id": "wait", "kind": "delay", "duration": 45, "unit": "calendar"},
            {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi"}},
            {"id": "done", "kind": "end"},
        ],
        "edges": [
            {"source": "visit", "target": "wait"},
            {"source": "wait", "target": "hello"},
            {"source": "hello", "target": "done"},
        ],
    }
    fakes = FakeProviders()
    seeded = await seed(services, graph)
    async with outreach_worker(ts_env.client, services, fakes, task_queue, extra_workflows=[FakeParent]):
        parent = await ts_env.client.start_workflow(
            FakeParent.run, id=f"parent-{seeded.campaign_id}", task_queue=task_queue
        )
        lead = await start(ts_env, seeded, task_queue, parent=parent.id)
        result: LeadOutreachResult = await lead.result()
        finished: LeadFinishedSignal = await parent.result()
        history = await lead.fetch_history()
    assert (result.outcome, result.ended_at_node) == (LeadOutcome.FAILED, "wait")
    assert finished == LeadFinishedSignal(lead_id=seeded.lead_ids[0], outcome=LeadOutcome.FAILED)
    assert fakes.actions == ["linkedin.visit_profile"]
    started, closed = history.events[0], history.events[-1]
    lasted = closed.event_time.ToDatetime() - started.event_time.ToDatetime()
    assert LEAD_DEADLINE <= lasted < LEAD_DEADLINE + timedelta(minutes=1)  # not the 45 days
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and (record.status, record.execution_data["ended_at_node"]) == ("failed", "wait")
    assert [s["node_id"] for s in record.execution_data["steps"]] == ["visit"]  # the delay never ended


async def test_a_lead_whose_orchestrator_is_gone_still_closes_its_record(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        result: LeadOutreachResult = await (
            await start(ts_env, seeded, task_queue, parent="campaign-that-never-ran")
        ).result()
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert result.outcome == LeadOutcome.SUCCEEDED
    assert record is not None and (record.status, record.current_step) == ("completed", 3)


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, services: Services, task_queue: str) -> None:
    """Keeps tests/histories/lead_outreach/accepted_after_two_polls.json; rewritten only when
    missing or RECORD_HISTORIES=1. Pre-1.0, histories of replaced lead code are deleted, not
    kept."""
    from tests.record import HISTORIES, save_history

    fakes = FakeProviders(statuses=["pending", "accepted"])
    seeded = await seed(services, INVITE_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue, extra_workflows=[FakeParent]):
        parent = await ts_env.client.start_workflow(
            FakeParent.run, id=f"parent-{seeded.campaign_id}", task_queue=task_queue
        )
        handle = await start(ts_env, seeded, task_queue, parent=parent.id)
        await wait_for(lambda: fakes.named("linkedin.send_invitation"))
        await handle.signal(LeadOutreachWorkflow.pause, PauseSignal())
        await handle.signal(LeadOutreachWorkflow.resume, ResumeSignal())
        await handle.result()
        await parent.result()
        path = HISTORIES / "lead_outreach" / "accepted_after_two_polls.json"
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "lead_outreach", "accepted_after_two_polls")
    assert path.exists()


@workflow.defn(sandboxed=False)
class FakeParent:
    """Stands in for the orchestrator: returns the first ``lead_finished`` it receives."""

    def __init__(self) -> None:
        self._finished: LeadFinishedSignal | None = None

    @workflow.run
    async def run(self) -> LeadFinishedSignal:
        await workflow.wait_condition(lambda: self._finished is not None)
        assert self._finished is not None
        return self._finished

    @workflow.signal
    def lead_finished(self, signal: LeadFinishedSignal) -> None:
        self._finished = signal


async def test_with_the_real_activities_and_the_sandbox_linkedin(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """The contract end to end: the package's own activities (store, outreach, sandbox Unipile
    through the outbox), one lead whose invitation is accepted, one whose never is."""
    from temporalio.worker import Worker

    from followthrough.catalog import build_activities
    from followthrough.processes.campaigns.sender import SenderWorkflow

    accepts = await seed(services, INVITE_GRAPH)
    never = await seed(
        services, INVITE_GRAPH, lead_fields={"linkedin_url": "https://www.linkedin.com/in/never-accepts-1/"}
    )
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[LeadOutreachWorkflow, SenderWorkflow],
        activities=build_activities(services),
    ):
        won: LeadOutreachResult = await (await start(ts_env, accepts, task_queue)).result()
        lost: LeadOutreachResult = await (await start(ts_env, never, task_queue)).result()
    assert (won.outcome, won.ended_at_node) == (LeadOutcome.GOAL_REACHED, "won")
    assert (lost.outcome, lost.ended_at_node) == (LeadOutcome.SUCCEEDED, "lost")
    sent = await services.providers.outbox.entries(provider="unipile")
    operations = sorted(e.operation for e in sent)
    assert operations == sorted(
        ["visit_profile", "send_invitation", "send_message", "visit_profile", "send_invitation", "withdraw_invitation"]
    )
    assert all(e.status == "sent" for e in sent)
    keys = {e.idempotency_key for e in sent}
    assert f"outreach:{accepts.campaign_id}:{accepts.lead_ids[0]}:hello" in keys


REPLIED_GRAPH: dict[str, Any] = {
    "stop_on_reply": False,
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "replied", "kind": "condition", "condition": "replied", "within_days": 2},
        {"id": "thanks", "kind": "action", "action": "send_message", "config": {"template": "Thanks!"}},
        {"id": "talked", "kind": "end"},
        {"id": "silent", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "replied"},
        {"source": "replied", "target": "thanks", "branch": "true"},
        {"source": "replied", "target": "silent", "branch": "false"},
        {"source": "thanks", "target": "talked"},
    ],
}


async def test_replied_condition_routes_a_reply_when_the_graph_does_not_stop_on_it(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    fakes = FakeProviders()
    talks = await seed(services, REPLIED_GRAPH)
    silent = await seed(services, REPLIED_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, talks, task_queue)
        await wait_for(lambda: fakes.named("linkedin.visit_profile"))
        await handle.signal(LeadOutreachWorkflow.lead_replied, LeadRepliedSignal())
        replied: LeadOutreachResult = await handle.result()
        quiet: LeadOutreachResult = await (await start(ts_env, silent, task_queue)).result()
    assert (replied.outcome, replied.ended_at_node) == (LeadOutcome.SUCCEEDED, "talked")
    assert (quiet.outcome, quiet.ended_at_node) == (LeadOutcome.SUCCEEDED, "silent")
    assert fakes.actions == ["linkedin.visit_profile", "linkedin.send_message", "linkedin.visit_profile"]
    assert [s.branch for s in quiet.steps if s.kind == "condition"] == [False]


async def test_a_cancelled_lead_records_stopped(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    from temporalio.client import WorkflowFailureError

    fakes = FakeProviders()
    seeded = await seed(services, DELAY_GRAPH)
    async with outreach_worker(ts_env.client, services, fakes, task_queue):
        handle = await start(ts_env, seeded, task_queue)
        await wait_for(lambda: fakes.named("linkedin.visit_profile"))
        await handle.cancel()
        try:
            await handle.result()
        except WorkflowFailureError:
            pass
        else:
            raise AssertionError("the workflow should end cancelled")
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None and record.status == "stopped"
    assert fakes.actions == ["linkedin.visit_profile"]
