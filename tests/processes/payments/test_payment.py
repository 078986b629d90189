"""PaymentWorkflow on the time-skipping server, with fake activities under the contract names."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.leads.models import Lead, SetStageInput
from followthrough.processes.payments.rules import (
    MarkPaymentInput,
    PaymentCompletedSignal,
    PaymentExpiredSignal,
    PaymentInput,
    PaymentStatus,
    RecordCheckoutInput,
)
from followthrough.processes.payments.workflow import PaymentWorkflow
from followthrough.providers.contracts.payments import CheckoutSession, CreateCheckoutInput, GetCheckoutInput
from tests.moments import EXACT, Moment, moments
from tests.processes.bookings.test_booking import FakeIntegrationSync

#: The sync a paid order starts is a fake: what it was started with is its result.
WORKFLOWS = [PaymentWorkflow, FakeIntegrationSync]
LEAD = Lead(id="lead-9", phone="+5215599998888", name="Luis Gómez", email="luis@example.com", language="es")
INPUT = PaymentInput(lead=LEAD, reference="plan-pro-2025", amount=149900, currency="MXN", description="Plan Pro")


@dataclass
class Fakes:
    calls: list[tuple[str, datetime, Any]] = field(default_factory=list)
    stripe_status: str = "open"
    #: What the provider reports as the time of payment once complete (None: it does not say).
    stripe_paid_at: datetime | None = None
    #: When set, ``payment_records.mark`` waits for it: keeps the workflow open for a second signal.
    gate: asyncio.Event | None = None

    def activities(self) -> list[Any]:
        def note(name: str, arg: Any) -> None:
            self.calls.append((name, activity.info().current_attempt_scheduled_time, arg))

        @activity.defn(name="payments.create_checkout")
        async def create_checkout(input: CreateCheckoutInput) -> CheckoutSession:
            note("create_checkout", input)
            return CheckoutSession(
                session_id="cs_test_1",
                url="https://checkout.stripe.test/cs_test_1",
                status="open",
                payment_status="unpaid",
                amount=input.amount,
                currency=input.currency,
                expires_at=datetime.now(UTC) + timedelta(hours=24),
                metadata=input.metadata,
            )

        @activity.defn(name="payments.get_checkout")
        async def get_checkout(input: GetCheckoutInput) -> CheckoutSession:
            note("get_checkout", input)
            return CheckoutSession(
                session_id=input.session_id,
                url=None,
                status=self.stripe_status,  # type: ignore[arg-type]
                payment_status="paid" if self.stripe_status == "complete" else "unpaid",
                expires_at=datetime.now(UTC),
                paid_at=self.stripe_paid_at if self.stripe_status == "complete" else None,
            )

        @activity.defn(name="messaging.send")
        async def send(input: dict[str, Any]) -> dict[str, Any]:
            note("send", input)
            return {"message_id": f"wamid.{len(self.calls)}", "to": input["to"]}

        @activity.defn(name="payment_records.record_checkout")
        async def record_checkout(input: RecordCheckoutInput) -> str:
            note("record_checkout", input)
            return "pay-1"

        @activity.defn(name="payment_records.mark")
        async def mark(input: MarkPaymentInput) -> str:
            note("mark", input)
            if self.gate is not None:
                await self.gate.wait()
            return input.state

        @activity.defn(name="leads.set_stage")
        async def set_stage(input: SetStageInput) -> str | None:
            note("set_stage", input)
            return "demo_scheduled"

        return [create_checkout, get_checkout, send, record_checkout, mark, set_stage]

    def named(self, name: str) -> list[tuple[datetime, Any]]:
        return [(at, arg) for n, at, arg in self.calls if n == name]

    def message_kinds(self) -> list[str]:
        return [arg["idempotency_key"].rsplit(":", 1)[1] for _, arg in self.named("send")]


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def worker(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=fakes.activities()
    ) as running:
        yield running


async def _start(env: WorkflowEnvironment, task_queue: str) -> tuple[WorkflowHandle[Any, PaymentStatus], datetime]:
    handle = await env.client.start_workflow(
        PaymentWorkflow.run, INPUT, id=f"payment-{LEAD.id}-{uuid.uuid4()}", task_queue=task_queue
    )
    # The workflow's clock (workflow.now()) starts at its first task, which a busy machine may start
    # a second after the start request: the instants below are counted from that task, exactly.
    for _ in range(400):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                return handle, event.event_time.ToDatetime(UTC)
        await asyncio.sleep(0.025)
    raise AssertionError("the payment workflow's first task never started")


async def _status_when(
    handle: WorkflowHandle[Any, PaymentStatus], ready: Callable[[PaymentStatus], bool]
) -> PaymentStatus:
    """The status query's answer once ``ready`` (the workflow checks a signal in an activity)."""
    for _ in range(100):
        status = await handle.query(PaymentWorkflow.status)
        if ready(status):
            return status
        await asyncio.sleep(0.05)
    return status


def _paid(event_id: str = "evt_1") -> PaymentCompletedSignal:
    return PaymentCompletedSignal(session_id="cs_test_1", event_id=event_id, paid_at=datetime(2025, 1, 1, tzinfo=UTC))


async def test_checkout_is_idempotent_and_names_the_workflow(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    await handle.result()
    [(_, checkout)] = fakes.named("create_checkout")
    assert checkout.idempotency_key == "payment:lead-9:plan-pro-2025"
    assert checkout.metadata == {"workflow_id": handle.id, "lead_id": "lead-9", "reference": "plan-pro-2025"}
    assert (checkout.amount, checkout.currency, checkout.customer_email) == (149900, "mxn", "luis@example.com")
    [(_, record)] = fakes.named("record_checkout")
    assert record.session_id == "cs_test_1" and record.workflow_id == handle.id


async def test_paid_before_12h_sends_no_reminder(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=11))
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    result = await handle.result()
    assert result.state == "paid" and result.reminders_sent == []
    assert fakes.message_kinds() == ["link", "receipt"]
    link_text = fakes.named("send")[0][1]["text"]
    assert "1,499.00 MXN" in link_text and "https://checkout.stripe.test/cs_test_1" in link_text
    assert "Recibimos tu pago de 1,499.00 MXN" in fakes.named("send")[1][1]["text"]
    [(_, stage)] = fakes.named("set_stage")
    assert stage.stage == "customer" and result.previous_stage == "demo_scheduled"
    assert [m.state for _, m in fakes.named("mark")] == ["paid"]
    assert result.completion_event_id == "evt_1"


async def test_a_payment_starts_its_integration_sync_with_the_amount(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    result = await handle.result()
    assert result.integration_sync == "integration-lead-9-payment_completed-plan-pro-2025"
    synced = await ts_env.client.get_workflow_handle(result.integration_sync).result()
    assert (synced["event"], synced["event_id"], synced["value"], synced["currency"]) == (
        "payment_completed",
        "plan-pro-2025",
        149900,
        "mxn",
    )
    assert datetime.fromisoformat(synced["occurred_at"]) == _paid().paid_at


async def test_an_expired_payment_or_one_told_not_to_starts_no_sync(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    expired = await (await _start(ts_env, task_queue))[0].result()
    assert expired.state == "expired" and expired.integration_sync is None
    handle = await ts_env.client.start_workflow(
        PaymentWorkflow.run,
        INPUT.model_copy(update={"sync_integrations": False}),
        id=f"payment-{LEAD.id}-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    paid = await handle.result()
    assert paid.state == "paid" and paid.integration_sync is None


async def test_paid_after_12h_sends_one_reminder_at_12h(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=15))
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    result = await handle.result()
    assert fakes.message_kinds() == ["link", "reminder-12h", "receipt"]
    assert fakes.named("send")[1][0] == Moment(started + timedelta(hours=12))
    assert result.reminders_sent == moments(started + timedelta(hours=12))
    assert result.state == "paid"


async def test_never_paid_sends_two_reminders_then_expires(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    result = await handle.result()
    assert fakes.message_kinds() == ["link", "reminder-12h", "reminder-20h"]
    assert [at for at, _ in fakes.named("send")[1:]] == moments(
        started + timedelta(hours=12), started + timedelta(hours=20)
    )
    [(expired_at, mark)] = fakes.named("mark")
    assert mark.state == "expired" and expired_at == Moment(started + timedelta(hours=24))
    assert result.state == "expired" and fakes.named("set_stage") == []
    # workflow.now() is the task's time through a float: a microsecond either way.
    assert result.deadline is not None and abs(result.deadline - (started + timedelta(hours=24))) < EXACT


async def test_duplicate_completion_is_handled_once(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    fakes.gate = asyncio.Event()
    handle, _ = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=2))  # between read-backs: the signals, not a read-back, report it
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid("evt_1"))
    await handle.signal(PaymentWorkflow.payment_completed, _paid("evt_1_redelivered"))
    fakes.gate.set()
    result = await handle.result()
    assert result.completion_event_id == "evt_1" and result.duplicate_completions == 1
    assert fakes.message_kinds() == ["link", "receipt"]
    assert len(fakes.named("set_stage")) == 1 and len(fakes.named("mark")) == 1


async def test_completion_for_another_session_is_ignored(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=1))
    await handle.signal(
        PaymentWorkflow.payment_completed,
        PaymentCompletedSignal(session_id="cs_other", event_id="evt_x", paid_at=datetime(2025, 1, 1, tzinfo=UTC)),
    )
    assert (await handle.query(PaymentWorkflow.status)).state == "awaiting_payment"
    await handle.signal(PaymentWorkflow.payment_expired, PaymentExpiredSignal(session_id="cs_test_1"))
    assert (await handle.result()).state == "expired"


async def test_a_completion_the_provider_does_not_confirm_leaves_it_unpaid(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=2))  # past the read-backs at +15 min and +1 h
    read_backs = len(fakes.named("get_checkout"))
    await handle.signal(PaymentWorkflow.payment_completed, _paid("evt_forged"))  # Stripe: still open
    status = await _status_when(handle, lambda s: s.unconfirmed_completions > 0)
    assert status.state == "awaiting_payment" and status.unconfirmed_completions == 1
    fakes.stripe_status = "complete"
    await handle.signal(PaymentWorkflow.payment_completed, _paid("evt_real"))
    result = await handle.result()
    assert result.state == "paid" and result.completion_event_id == "evt_real"
    assert result.paid_at == _paid().paid_at  # the webhook event's time, not the check's
    assert [m.state for _, m in fakes.named("mark")] == ["paid"]
    assert len(fakes.named("get_checkout")) == read_backs + 2  # one read per signalled completion


async def test_a_lost_webhook_is_caught_by_reading_the_checkout_back(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, _ = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=2))
    fakes.stripe_status = "complete"  # paid at Stripe; the webhook never came
    result = await handle.result()
    assert result.state == "paid" and result.reminders_sent == []
    assert result.completion_event_id == "poll:cs_test_1"
    assert fakes.message_kinds() == ["link", "receipt"]


async def test_a_lost_webhook_is_noticed_at_15_minutes_with_the_providers_pay_time(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(minutes=5))
    fakes.stripe_status = "complete"  # paid at Stripe at +5 min; the webhook never came
    fakes.stripe_paid_at = started + timedelta(minutes=5)
    result = await handle.result()
    assert result.state == "paid" and result.paid_at == started + timedelta(minutes=5)
    assert result.completion_event_id == "poll:cs_test_1" and result.reminders_sent == []
    [(marked_at, mark)] = fakes.named("mark")
    assert mark.state == "paid" and mark.at == started + timedelta(minutes=5)
    assert fakes.message_kinds() == ["link", "receipt"]
    assert fakes.named("send")[1][0] == Moment(started + timedelta(minutes=15))  # the receipt, at the read-back
    assert [at for at, _ in fakes.named("get_checkout")] == moments(started + timedelta(minutes=15))


async def test_read_backs_run_at_15_minutes_and_1_hour_then_with_each_reminder(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    result = await handle.result()
    assert result.state == "expired"
    offsets = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=12), timedelta(hours=20), timedelta(hours=24))
    assert [at for at, _ in fakes.named("get_checkout")] == moments(*(started + offset for offset in offsets))


async def test_a_read_back_without_a_provider_pay_time_records_the_read_back(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(minutes=20))
    fakes.stripe_status = "complete"  # paid; the provider reports no time for it
    result = await handle.result()
    assert result.paid_at == Moment(started + timedelta(hours=1))


async def test_status_query_shows_the_wait(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    handle, started = await _start(ts_env, task_queue)
    await ts_env.sleep(timedelta(hours=13))
    status = await handle.query(PaymentWorkflow.status)
    assert status.state == "awaiting_payment" and status.checkout_url == "https://checkout.stripe.test/cs_test_1"
    assert len(status.reminders_sent) == 1
    fakes.stripe_status = "complete"  # the provider confirms the completion
    await handle.signal(PaymentWorkflow.payment_completed, _paid())
    await handle.result()


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> None:
    """tests/histories/payment/paid_after_reminder_with_sync.json (re-recorded when the checkout
    started to be read back at +15 min and +1 h)."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "payment" / "paid_after_reminder_with_sync.json"
    fakes.gate = asyncio.Event()
    async with Worker(ts_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=fakes.activities()):
        handle = await ts_env.client.start_workflow(
            PaymentWorkflow.run, INPUT, id=f"payment-{LEAD.id}-{INPUT.reference}", task_queue=task_queue
        )
        await ts_env.sleep(timedelta(hours=13))
        fakes.stripe_status = "complete"  # the provider confirms the completion
        await handle.signal(PaymentWorkflow.payment_completed, _paid())
        await handle.signal(PaymentWorkflow.payment_completed, _paid("evt_again"))
        fakes.gate.set()
        await handle.result()
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "payment", "paid_after_reminder_with_sync")
    assert path.exists()


async def test_record_lost_webhook_history_for_replay(
    ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str
) -> None:
    """tests/histories/payment/lost_webhook_read_back.json: paid at +5 min, no webhook, found
    by the +15 min read-back with the provider's pay time."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "payment" / "lost_webhook_read_back.json"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=fakes.activities()):
        handle, started = await _start(ts_env, task_queue)
        await ts_env.sleep(timedelta(minutes=5))
        fakes.stripe_status, fakes.stripe_paid_at = "complete", started + timedelta(minutes=5)
        await handle.result()
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "payment", "lost_webhook_read_back")
    assert path.exists()
