"""DemoBookingWorkflow on the time-skipping server, with fake activities under the contract names.

The saga tests inject a permanent failure at each step and check that exactly the steps before
it are undone, last first, and that nothing else happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import ParentClosePolicy
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.leads.models import Lead
from followthrough.processes.bookings.rules import BookDemoInput, BookDemoResult, BookingStatus, booking_workflow_id
from followthrough.processes.bookings.workflow import DemoBookingWorkflow

LEAD = Lead(id="lead-42", phone="+5215512345678", name="Ana López", email="ana@example.com", language="es")
FOLLOWUPS = ["pre_demo_24h", "pre_demo_reminder", "post_demo"]


@workflow.defn(name="FollowUpWorkflow")
class FakeFollowUp:
    """Stands in for the real follow-up: records its input and signals, runs until told to stop."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, Any]] = []
        self.input: Any = None
        self.done = False

    @workflow.run
    async def run(self, input: dict[str, Any]) -> None:
        self.input = input
        # Bounded, so an abandoned fake ends by itself when a later test skips time.
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=60))

    @workflow.signal(name="demo_changed")
    def demo_changed(self, signal: dict[str, Any]) -> None:
        self.signals.append(("demo_changed", signal))

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="seen")
    def seen(self) -> dict[str, Any]:
        return {"input": self.input, "signals": self.signals}


@workflow.defn(name="IntegrationSyncWorkflow")
class FakeIntegrationSync:
    """Stands in for the real sync: its result is the input it was started with."""

    @workflow.run
    async def run(self, input: dict[str, Any]) -> dict[str, Any]:
        return input


@dataclass
class Fakes:
    """Fake activities that log each call; ``fail`` names the one that fails for good,
    ``flaky`` maps a name to how many times it fails with a passing fault first."""

    fail: str | None = None
    #: Undos that fail for good too (a compensation that cannot be done).
    undo_fails: tuple[str, ...] = ()
    flaky: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: The one that never finishes (until cancelled); ``reached`` is set when it starts.
    hang: str | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def _hold(self, name: str) -> None:
        if name == self.hang:
            self.reached.set()
            await asyncio.Event().wait()

    def _call(self, name: str, arg: Any) -> None:
        if self.flaky.get(name, 0) > 0:
            self.flaky[name] -= 1
            raise ApplicationError(f"{name}: 503 from the provider", type="RetryableError")
        self.calls.append((name, arg))
        if name == self.fail or name in self.undo_fails:
            raise ApplicationError(f"{name}: refused", type="ValidationError", non_retryable=True)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="calendar.create_booking")
        async def create_booking(input: dict[str, Any]) -> dict[str, Any]:
            self._call("calendar.create_booking", input["idempotency_key"])
            return {"uid": "cal-1", "id": 1, "start": input["start"], "end": input["start"], "status": "accepted"}

        @activity.defn(name="calendar.cancel_booking")
        async def cancel_booking(input: dict[str, Any]) -> dict[str, Any]:
            self._call("calendar.cancel_booking", input["uid"])
            return {"uid": input["uid"], "status": "cancelled"}

        @activity.defn(name="appointments.create")
        async def create_appointment(input: dict[str, Any]) -> dict[str, Any]:
            self._call("appointments.create", input["booking_id"])
            return {
                "id": "appt-1",
                "lead_id": input["lead"]["id"],
                "booking_id": input["booking_id"],
                "start": input["start"],
                "end": input["end"],
                "status": "scheduled",
            }

        @activity.defn(name="appointments.cancel")
        async def cancel_appointment(input: dict[str, Any]) -> None:
            self._call("appointments.cancel", input["appointment_id"])

        @activity.defn(name="leads.set_stage")
        async def set_stage(input: dict[str, Any]) -> str | None:
            self._call("leads.set_stage", input["stage"])
            return "qualified"

        @activity.defn(name="messaging.send")
        async def send(input: dict[str, Any]) -> dict[str, Any]:
            self._call("messaging.send", input["idempotency_key"])
            await self._hold("messaging.send")
            return {"message_id": "wamid.1", "to": input["to"]}

        return [create_booking, cancel_booking, create_appointment, cancel_appointment, set_stage, send]


def forward(start: datetime, lead_id: str) -> list[tuple[str, str]]:
    """The forward steps' calls, as the fakes log them, for ``lead_id``'s demo at ``start``."""
    slot_id = start.strftime("%Y%m%dT%H%M%SZ")
    return [
        ("calendar.create_booking", f"booking:{lead_id}:{slot_id}"),
        ("appointments.create", "cal-1"),
        ("leads.set_stage", "demo_scheduled"),
        ("messaging.send", f"booking-confirmation:{lead_id}:{slot_id}"),
    ]


STEP_ACTIVITIES = ["calendar.create_booking", "appointments.create", "leads.set_stage", "messaging.send"]
UNDOS = {
    "calendar.create_booking": ("calendar.cancel_booking", "cal-1"),
    "appointments.create": ("appointments.cancel", "appt-1"),
    "leads.set_stage": ("leads.set_stage", "qualified"),
}


def slot(ts_now: datetime) -> tuple[datetime, datetime]:
    """A slot three days after the (time-skipping) server's now, on the hour."""
    start = (ts_now + timedelta(days=3)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(minutes=30)


@dataclass
class Booker:
    """Runs bookings on a worker that lives as long as the test; each run uses the fakes given."""

    env: WorkflowEnvironment
    task_queue: str
    lead: Lead = field(default_factory=lambda: LEAD.model_copy(update={"id": f"lead-{uuid.uuid4().hex[:8]}"}))
    current: Fakes = field(default_factory=Fakes)
    bookings: list[str] = field(default_factory=list)
    followups: set[str] = field(default_factory=set)

    def activities(self) -> list[Callable[..., Any]]:
        booker = self

        class Delegating(Fakes):
            def _call(self, name: str, arg: Any) -> None:
                booker.current._call(name, arg)

            async def _hold(self, name: str) -> None:
                await booker.current._hold(name)

        return Delegating().activities()

    async def __call__(self, fakes: Fakes, **input_overrides: Any) -> BookDemoResult:
        self.current = fakes
        start, end = slot(await self.env.get_current_time())
        values: dict[str, Any] = {"lead": self.lead, "start": start, "end": end, **input_overrides}
        wid = booking_workflow_id(self.lead.id, values["start"]) + f"-{uuid.uuid4().hex[:6]}"
        self.bookings.append(wid)
        result: BookDemoResult = await self.env.client.execute_workflow(
            DemoBookingWorkflow.run, BookDemoInput(**values), id=wid, task_queue=self.task_queue
        )
        self.followups.update(result.followups)
        return result


@pytest.fixture
async def booking_env(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Booker]:
    booker = Booker(ts_env, task_queue)
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[DemoBookingWorkflow, FakeFollowUp, FakeIntegrationSync],
        activities=booker.activities(),
        workflow_failure_exception_types=[Exception],  # a bug fails the test instead of hanging it
    ):
        yield booker
        for wid in booker.followups:  # the abandoned children of this test
            try:
                await ts_env.client.get_workflow_handle(wid).terminate("test over")
            except RPCError:
                pass


async def test_books_a_demo_end_to_end(booking_env: Booker, ts_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    result = await booking_env(fakes)
    assert result.ok
    assert fakes.calls == forward(result.start, result.lead_id)
    assert result.completed == ["calendar_booking", "appointment", "lead_stage", "confirmation", "followups"]
    assert (result.booking_id, result.appointment_id, result.previous_stage) == ("cal-1", "appt-1", "qualified")
    assert result.confirmation_message_id == "wamid.1"
    assert result.failed_step is None and result.compensated == []
    assert result.followups == [f"followup-{result.lead_id}-{t}" for t in FOLLOWUPS]


async def test_a_booked_demo_starts_its_integration_sync_and_a_failed_one_does_not(
    booking_env: Booker, ts_env: WorkflowEnvironment
) -> None:
    result = await booking_env(Fakes())
    assert result.integration_sync == f"integration-{result.lead_id}-demo_scheduled-cal-1"
    handle = ts_env.client.get_workflow_handle(result.integration_sync)
    synced = await handle.result()
    assert (synced["event"], synced["event_id"], synced["lead"]["id"]) == ("demo_scheduled", "cal-1", result.lead_id)
    attrs = {p.key.name: p.value for p in (await handle.describe()).typed_search_attributes}
    assert attrs == {"LeadId": result.lead_id, "WorkflowFamily": "integration_sync"}
    assert (await booking_env(Fakes(fail="messaging.send"))).integration_sync is None
    assert (await booking_env(Fakes(), sync_integrations=False)).integration_sync is None


async def test_followups_are_abandon_on_close_children_with_the_demo_times_and_lead_id(
    booking_env: Booker, ts_env: WorkflowEnvironment
) -> None:
    result = await booking_env(Fakes())
    parent = ts_env.client.get_workflow_handle(booking_env.bookings[-1])
    starts = [
        e.start_child_workflow_execution_initiated_event_attributes
        async for e in parent.fetch_history_events()
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert [s.workflow_id for s in starts] == [*result.followups, result.integration_sync]
    starts = starts[:-1]  # the follow-ups
    for attrs in starts:
        assert attrs.workflow_type.name == "FollowUpWorkflow"
        assert attrs.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON
    for followup_type, wid in zip(FOLLOWUPS, result.followups, strict=True):
        handle = ts_env.client.get_workflow_handle(wid)
        desc = await handle.describe()
        assert desc.status != WorkflowExecutionStatus.TERMINATED  # the parent's close did not end it
        attrs = {p.key.name: p.value for p in desc.typed_search_attributes}
        assert attrs == {"LeadId": result.lead_id, "WorkflowFamily": "followup"}
        seen = await handle.query("seen")
        assert seen["input"]["type"] == followup_type
        assert seen["input"]["lead"]["id"] == result.lead_id
        assert datetime.fromisoformat(seen["input"]["demo_start"]) == result.start
        assert datetime.fromisoformat(seen["input"]["demo_end"]) == result.end


@pytest.mark.parametrize("failing", STEP_ACTIVITIES)
async def test_a_failed_step_undoes_exactly_the_earlier_steps_in_reverse(
    booking_env: Booker, ts_env: WorkflowEnvironment, failing: str
) -> None:
    fakes = Fakes(fail=failing)
    result = await booking_env(fakes)
    steps = forward(result.start, result.lead_id)
    index = STEP_ACTIVITIES.index(failing)
    earlier = steps[:index]
    undos = [UNDOS[name] for name, _ in reversed(earlier) if name in UNDOS]
    assert fakes.calls == [*earlier, steps[index], *undos]
    assert not result.ok
    assert result.failed_step == ["calendar_booking", "appointment", "lead_stage", "confirmation"][index]
    assert result.error_type == "ValidationError"
    assert result.compensated == [
        {
            "calendar.create_booking": "cancel_calendar_booking",
            "appointments.create": "cancel_appointment",
            "leads.set_stage": "restore_lead_stage",
        }[name]
        for name, _ in reversed(earlier)
        if name in UNDOS
    ]
    assert result.followups == []
    for followup_type in FOLLOWUPS:  # no child was started
        with pytest.raises(RPCError):
            await ts_env.client.get_workflow_handle(f"followup-{result.lead_id}-{followup_type}").describe()


async def test_a_cancel_mid_saga_undoes_the_earlier_steps_in_reverse_and_closes_cancelled(
    booking_env: Booker, ts_env: WorkflowEnvironment
) -> None:
    fakes = Fakes(hang="messaging.send")
    booking_env.current = fakes
    start, end = slot(await ts_env.get_current_time())
    handle = await ts_env.client.start_workflow(
        DemoBookingWorkflow.run,
        BookDemoInput(lead=booking_env.lead, start=start, end=end),
        id=f"booking-cancelled-{uuid.uuid4().hex[:6]}",
        task_queue=booking_env.task_queue,
    )
    await asyncio.wait_for(fakes.reached.wait(), 30)
    await handle.cancel()
    # Let the workflow take the cancellation before awaiting the result skips time.
    for _ in range(500):
        status: BookingStatus = await handle.query(DemoBookingWorkflow.status)
        if status.current_step == "failed":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert fakes.calls == [
        *forward(start, booking_env.lead.id),
        UNDOS["leads.set_stage"],
        UNDOS["appointments.create"],
        UNDOS["calendar.create_booking"],
    ]
    assert status.compensated == ["restore_lead_stage", "cancel_appointment", "cancel_calendar_booking"]


async def test_an_undo_that_fails_for_good_is_reported_and_the_earlier_undos_still_run(
    booking_env: Booker,
) -> None:
    fakes = Fakes(fail="messaging.send", undo_fails=("appointments.cancel",))
    result = await booking_env(fakes)
    assert not result.ok and result.failed_step == "confirmation"
    assert fakes.calls[-3:] == [
        UNDOS["leads.set_stage"],
        UNDOS["appointments.create"],
        UNDOS["calendar.create_booking"],
    ]
    assert result.compensated == ["restore_lead_stage", "cancel_calendar_booking"]
    assert result.compensation_errors == ["cancel_appointment: ValidationError: appointments.cancel: refused"]


async def test_passing_faults_are_retried_not_compensated(booking_env: Booker) -> None:
    fakes = Fakes(flaky={"messaging.send": 1})
    result = await booking_env(fakes)
    assert result.ok
    assert fakes.calls == forward(result.start, result.lead_id)


async def test_compensations_retry_until_done(booking_env: Booker) -> None:
    fakes = Fakes(fail="messaging.send", flaky={"calendar.cancel_booking": 1})
    result = await booking_env(fakes)
    assert result.compensated == ["restore_lead_stage", "cancel_appointment", "cancel_calendar_booking"]
    assert fakes.calls[-3:] == [
        UNDOS["leads.set_stage"],
        UNDOS["appointments.create"],
        UNDOS["calendar.create_booking"],
    ]


@pytest.mark.parametrize(
    ("start", "length", "reason"),
    [
        (datetime(2020, 1, 1, 10, tzinfo=UTC), timedelta(minutes=30), "in the past"),
        (datetime(2099, 1, 1, 10, tzinfo=UTC), timedelta(0), "is not after start"),
        (datetime(2099, 1, 1, 10, tzinfo=UTC), -timedelta(minutes=30), "is not after start"),
    ],
)
async def test_an_impossible_slot_is_refused_before_anything_is_created(
    ts_env: WorkflowEnvironment, task_queue: str, start: datetime, length: timedelta, reason: str
) -> None:
    fakes = Fakes()
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[DemoBookingWorkflow, FakeFollowUp, FakeIntegrationSync],
        activities=fakes.activities(),
    ):
        with pytest.raises(WorkflowFailureError) as info:
            await ts_env.client.execute_workflow(
                DemoBookingWorkflow.run,
                BookDemoInput(lead=LEAD, start=start, end=start + length),
                id=f"booking-{uuid.uuid4()}",
                task_queue=task_queue,
            )
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ValidationError" and cause.non_retryable
    assert reason in cause.message
    assert fakes.calls == []


async def test_a_running_followup_is_moved_to_the_new_demo_not_twinned(
    ts_env: WorkflowEnvironment, task_queue: str, booking_env: Booker
) -> None:
    old = await ts_env.client.start_workflow(
        "FollowUpWorkflow",
        {"type": "pre_demo_24h"},
        id=f"followup-{booking_env.lead.id}-pre_demo_24h",
        task_queue=task_queue,
    )
    result = await booking_env(Fakes())
    assert result.ok
    seen = await old.query("seen")
    assert seen["input"] == {"type": "pre_demo_24h"}  # the same execution, not a new one
    [(name, signal)] = seen["signals"]
    assert name == "demo_changed"
    assert datetime.fromisoformat(signal["demo_start"]) == result.start
    assert signal["cancelled"] is False


async def test_status_query_reports_progress(booking_env: Booker, ts_env: WorkflowEnvironment) -> None:
    fakes = Fakes(fail="leads.set_stage")
    result = await booking_env(fakes)
    assert result.failed_step == "lead_stage"
    handle = ts_env.client.get_workflow_handle(booking_env.bookings[-1])
    status: BookingStatus = await handle.query(DemoBookingWorkflow.status)
    assert status.current_step == "failed"
    assert status.completed == ["calendar_booking", "appointment"]
    assert status.compensated == ["cancel_appointment", "cancel_calendar_booking"]


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    """Keeps tests/histories/booking/*.json; rewritten only when missing or RECORD_HISTORIES=1.
    Pre-1.0, histories of replaced booking code are deleted, not kept."""
    from tests.record import HISTORIES, save_history

    for case, fakes in (("booked_with_sync", Fakes()), ("confirmation_failed", Fakes(fail="messaging.send"))):
        # Each case books from the server's clock now: waiting on the first case may skip it.
        start, end = slot(await ts_env.get_current_time())
        wid = f"booking-recorded-{case}-{uuid.uuid4().hex[:6]}"
        async with Worker(
            ts_env.client,
            task_queue=task_queue,
            workflows=[DemoBookingWorkflow, FakeFollowUp, FakeIntegrationSync],
            activities=fakes.activities(),
            workflow_failure_exception_types=[Exception],  # a bug fails the test instead of hanging it
        ):
            handle = await ts_env.client.start_workflow(
                DemoBookingWorkflow.run, BookDemoInput(lead=LEAD, start=start, end=end), id=wid, task_queue=task_queue
            )
            result = await handle.result()
            for child in result.followups:
                with contextlib.suppress(RPCError):  # a fake follow-up may have completed already
                    await ts_env.client.get_workflow_handle(child).terminate("recorded")
            path = HISTORIES / "booking" / f"{case}.json"
            if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
                await save_history(handle, "booking", case)
        assert path.exists()
