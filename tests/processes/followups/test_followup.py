"""FollowUpWorkflow on the time-skipping server, with fake activities under the contract names.

The fake ``messaging.send`` records when the workflow scheduled it (the server clock, which the
time-skipping server moves only between tasks), so every test checks the exact instant of each
message, to the second.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.leads.models import ContactState, ContactStateInput, Lead, LeadRepliedSignal
from followthrough.processes.followups.rules import (
    DemoBookedSignal,
    DemoChangedSignal,
    FollowUpInput,
    FollowUpStatus,
    OptedOutSignal,
)
from followthrough.processes.followups.workflow import FollowUpWorkflow
from tests.moments import Moment, moments

LEAD = Lead(id="lead-7", phone="+5215512345678", name="Ana Pérez", language="es")


@dataclass
class Fakes:
    """The activities a follow-up calls, recording what they were asked and when."""

    env: WorkflowEnvironment
    sent: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    opted_out: bool = False
    fail_with: Exception | None = None

    def activities(self) -> list[Any]:
        @activity.defn(name="messaging.send")
        async def send(input: dict[str, Any]) -> dict[str, Any]:
            if self.fail_with is not None:
                raise self.fail_with
            self.sent.append((activity.info().current_attempt_scheduled_time, input))
            return {"message_id": f"wamid.{len(self.sent)}", "to": input["to"]}

        @activity.defn(name="leads.contact_state")
        async def contact_state(input: ContactStateInput) -> ContactState:
            return ContactState(lead_id=input.lead_id, known=True, opted_out=self.opted_out)

        return [send, contact_state]

    @property
    def instants(self) -> list[datetime]:
        return [at for at, _ in self.sent]


@pytest.fixture
async def fakes(ts_env: WorkflowEnvironment) -> Fakes:
    return Fakes(ts_env)


@pytest.fixture
async def worker(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[FollowUpWorkflow], activities=fakes.activities()
    ) as running:
        yield running


async def _now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(UTC).replace(microsecond=0)


async def _start(
    env: WorkflowEnvironment, task_queue: str, type: str, **fields: Any
) -> WorkflowHandle[FollowUpWorkflow, FollowUpStatus]:
    return await env.client.start_workflow(
        FollowUpWorkflow.run,
        FollowUpInput(lead=LEAD, type=type, **fields),  # type: ignore[arg-type]
        id=f"followup-{LEAD.id}-{type}-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_pre_demo_24h_is_sent_24_hours_before_the_demo(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    demo = now + timedelta(days=3, hours=5, minutes=17, seconds=9)
    handle = await _start(ts_env, task_queue, "pre_demo_24h", demo_start=demo, demo_end=demo + timedelta(hours=1))
    result = await handle.result()
    assert fakes.instants == moments(demo - timedelta(hours=24))
    text = fakes.sent[0][1]["text"]
    assert text.startswith("Hola Ana, te recordamos tu demo mañana")
    assert fakes.sent[0][1]["to"] == LEAD.phone
    assert fakes.sent[0][1]["idempotency_key"] == (
        f"followup:lead-7:pre_demo_24h:24h_before@{demo - timedelta(hours=24):%Y%m%dT%H%M%SZ}"
    )
    assert result.state == "completed"
    assert [(s.state, s.message_id) for s in result.steps] == [("sent", "wamid.1")]
    assert result.steps[0].sent_at is not None
    assert result.steps[0].sent_at == Moment(demo - timedelta(hours=24))


async def test_pre_demo_reminder_is_sent_30_minutes_before(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    demo = now + timedelta(hours=7, seconds=41)
    handle = await _start(ts_env, task_queue, "pre_demo_reminder", demo_start=demo)
    await handle.result()
    assert fakes.instants == moments(demo - timedelta(minutes=30))


async def test_post_demo_is_sent_2_minutes_after_the_demo_ends(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    start = now + timedelta(hours=2)
    end = start + timedelta(minutes=47, seconds=3)
    handle = await _start(ts_env, task_queue, "post_demo", demo_start=start, demo_end=end)
    await handle.result()
    assert fakes.instants == moments(end + timedelta(minutes=2))


async def test_said_later_is_sent_12_hours_after_the_trigger(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    triggered = await _now(ts_env) - timedelta(minutes=5, seconds=12)  # the webhook saw it a little earlier
    handle = await _start(ts_env, task_queue, "said_later", triggered_at=triggered)
    await handle.result()
    assert fakes.instants == moments(triggered + timedelta(hours=12))


async def test_said_later_without_trigger_time_counts_from_the_start(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    started = await _now(ts_env)
    handle = await _start(ts_env, task_queue, "said_later")
    result = await handle.result()
    due = result.steps[0].due_at
    assert started <= due - timedelta(hours=12) <= started + timedelta(seconds=2)
    # Due at the start's instant (microseconds and all) plus 12 h; sent then, never before.
    [(sent_at, _)] = fakes.sent
    assert sent_at == Moment(due)


async def test_cold_lead_reengagement_is_sent_at_24_60_and_168_hours(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    triggered = await _now(ts_env)
    handle = await _start(ts_env, task_queue, "cold_lead_reengagement", triggered_at=triggered)
    result = await handle.result()
    assert fakes.instants == moments(*(triggered + timedelta(hours=h) for h in (24, 60, 168)))
    assert [m["text"].split(",")[0] for _, m in fakes.sent] == ["Hola Ana", "Ana", "Hola Ana"]
    assert len({m["idempotency_key"] for _, m in fakes.sent}) == 3
    assert [s.state for s in result.steps] == ["sent", "sent", "sent"]


async def test_english_leads_get_english_messages(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> None:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[FollowUpWorkflow], activities=fakes.activities()
    ):
        handle = await ts_env.client.start_workflow(
            FollowUpWorkflow.run,
            FollowUpInput(lead=LEAD.model_copy(update={"language": "en"}), type="said_later"),
            id=f"followup-en-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.result()
    assert fakes.sent[0][1]["text"].startswith("Hi Ana, did you get a chance to look?")


async def test_a_moment_already_past_is_skipped_not_sent_late(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    demo = now + timedelta(hours=5)  # 24 h before it is 19 h ago
    handle = await _start(ts_env, task_queue, "pre_demo_24h", demo_start=demo)
    result = await handle.result()
    assert fakes.sent == []
    assert result.state == "completed"
    assert result.steps[0].state == "skipped"
    assert result.steps[0].due_at == demo - timedelta(hours=24)


async def test_a_step_due_before_any_worker_ran_the_follow_up_is_still_sent(
    dev_client: Client, fakes: Fakes, task_queue: str
) -> None:
    """Past is judged at the request (the execution's start), not at its first workflow task:
    a step due 2 s after the start, whose workflow no worker picked up for 4 s (a backlog, a
    restart), goes out as soon as a worker runs it, within MAX_LATENESS of its instant. Real
    server and real time: the time-skipping server does not move its clock while a workflow
    task waits for a worker."""
    asked = datetime.now(UTC)
    handle = await dev_client.start_workflow(
        FollowUpWorkflow.run,
        FollowUpInput(lead=LEAD, type="said_later", triggered_at=asked - timedelta(hours=12) + timedelta(seconds=2)),
        id=f"followup-{LEAD.id}-backlog-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    await asyncio.sleep(4)  # no worker yet: the step falls due with nothing running
    async with Worker(dev_client, task_queue=task_queue, workflows=[FollowUpWorkflow], activities=fakes.activities()):
        result = await handle.result()
    assert [s.state for s in result.steps] == ["sent"]
    assert len(fakes.sent) == 1 and fakes.sent[0][0] - asked >= timedelta(seconds=4)


async def test_a_demo_in_the_past_skips_everything(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    handle = await _start(
        ts_env, task_queue, "post_demo", demo_start=now - timedelta(hours=3), demo_end=now - timedelta(hours=2)
    )
    result = await handle.result()
    assert fakes.sent == [] and [s.state for s in result.steps] == ["skipped"]


async def test_reply_cancels_pending_followups(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    triggered = await _now(ts_env)
    handle = await _start(ts_env, task_queue, "cold_lead_reengagement", triggered_at=triggered)
    await ts_env.sleep(timedelta(hours=30))  # the 24 h message has gone out
    status = await handle.query(FollowUpWorkflow.status)
    assert [s.state for s in status.steps] == ["sent", "pending", "pending"]
    await handle.signal(FollowUpWorkflow.lead_replied, LeadRepliedSignal(message_id="wamid.in.1"))
    result = await handle.result()
    assert fakes.instants == moments(triggered + timedelta(hours=24))
    assert result.state == "stopped" and result.stopped_by == "lead_replied"
    assert [s.state for s in result.steps] == ["sent", "cancelled", "cancelled"]


async def test_opt_out_signal_stops_everything(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle = await _start(ts_env, task_queue, "cold_lead_reengagement")
    await handle.signal(FollowUpWorkflow.opted_out, OptedOutSignal(reason="BAJA"))
    result = await handle.result()
    assert fakes.sent == []
    assert result.stopped_by == "opted_out"
    assert [s.state for s in result.steps] == ["cancelled"] * 3


async def test_an_opt_out_recorded_in_the_store_holds_without_a_signal(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle = await _start(ts_env, task_queue, "cold_lead_reengagement")
    await ts_env.sleep(timedelta(hours=30))
    fakes.opted_out = True  # the webhook recorded STOP, its signal was lost
    result = await handle.result()
    assert len(fakes.sent) == 1
    assert result.stopped_by == "opted_out"
    assert [s.state for s in result.steps] == ["sent", "cancelled", "cancelled"]


async def test_demo_booked_stops_reengagement_only(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    cold = await _start(ts_env, task_queue, "cold_lead_reengagement")
    later = await _start(ts_env, task_queue, "said_later")
    for handle in (cold, later):
        await handle.signal(FollowUpWorkflow.demo_booked, DemoBookedSignal(booking_id="bk-1"))
    assert (await cold.result()).stopped_by == "demo_booked"
    said_later = await later.result()
    assert said_later.state == "completed" and [s.state for s in said_later.steps] == ["sent"]


async def test_reschedule_moves_the_timer_to_the_new_demo_time(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    demo = now + timedelta(days=2)
    handle = await _start(ts_env, task_queue, "pre_demo_reminder", demo_start=demo)
    await ts_env.sleep(timedelta(hours=6))
    new_demo = demo + timedelta(days=1, hours=3, minutes=15)
    await handle.signal(FollowUpWorkflow.demo_changed, DemoChangedSignal(demo_start=new_demo))
    status = await handle.query(FollowUpWorkflow.status)
    assert status.steps[0].due_at == new_demo - timedelta(minutes=30) and status.steps[0].state == "pending"
    result = await handle.result()
    assert fakes.instants == moments(new_demo - timedelta(minutes=30))
    assert f"{new_demo:%H:%M}" in fakes.sent[0][1]["text"]
    assert result.demo_start == new_demo


async def test_reschedule_moves_post_demo_with_the_demo_length(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    start, end = now + timedelta(hours=10), now + timedelta(hours=11)
    handle = await _start(ts_env, task_queue, "post_demo", demo_start=start, demo_end=end)
    new_start = start + timedelta(hours=20)
    await handle.signal(FollowUpWorkflow.demo_changed, DemoChangedSignal(demo_start=new_start))
    await handle.result()
    assert fakes.instants == moments(new_start + timedelta(hours=1, minutes=2))


async def test_reschedule_to_a_sooner_time_skips_a_passed_moment(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    handle = await _start(ts_env, task_queue, "pre_demo_24h", demo_start=now + timedelta(days=3))
    await handle.signal(FollowUpWorkflow.demo_changed, DemoChangedSignal(demo_start=now + timedelta(hours=4)))
    result = await handle.result()
    assert fakes.sent == []
    assert result.steps[0].state == "skipped" and "moved" in (result.steps[0].reason or "")


async def test_demo_cancelled_cancels_the_followup(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    now = await _now(ts_env)
    handle = await _start(ts_env, task_queue, "pre_demo_24h", demo_start=now + timedelta(days=3))
    await handle.signal(FollowUpWorkflow.demo_changed, DemoChangedSignal(cancelled=True))
    result = await handle.result()
    assert fakes.sent == []
    assert result.stopped_by == "demo_cancelled" and result.steps[0].state == "cancelled"


async def test_a_message_the_provider_refuses_is_reported_and_the_rest_continue(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    from temporalio.exceptions import ApplicationError

    fakes.fail_with = ApplicationError("recipient not on WhatsApp", type="ValidationError", non_retryable=True)
    handle = await _start(ts_env, task_queue, "cold_lead_reengagement")
    await ts_env.sleep(timedelta(hours=25))
    fakes.fail_with = None
    result = await handle.result()
    assert [s.state for s in result.steps] == ["skipped", "sent", "sent"]
    assert "ValidationError" in (result.steps[0].reason or "")


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> None:
    """tests/histories/followup/reengagement_replied.json: a send, a reply, cancelled steps."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "followup" / "reengagement_replied.json"
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[FollowUpWorkflow], activities=fakes.activities()
    ):
        handle = await ts_env.client.start_workflow(
            FollowUpWorkflow.run,
            FollowUpInput(lead=LEAD, type="cold_lead_reengagement"),
            id=f"followup-{LEAD.id}-cold_lead_reengagement",
            task_queue=task_queue,
        )
        await ts_env.sleep(timedelta(hours=30))
        await handle.signal(FollowUpWorkflow.demo_changed, DemoChangedSignal(cancelled=True))
        await handle.signal(FollowUpWorkflow.lead_replied, LeadRepliedSignal())
        await handle.result()
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "followup", "reengagement_replied")
    assert path.exists()
