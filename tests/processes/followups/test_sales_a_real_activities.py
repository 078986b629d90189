"""The sales-assistant workflows with the package's real activities: sandbox providers, the
per-test SQLite store and its outbox, on the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import build_activities
from followthrough.leads.activities import LeadActivities
from followthrough.leads.models import (
    ContactStateInput,
    Lead,
    RecentConversationInput,
    SaveMemoryInput,
    SetStageInput,
)
from followthrough.processes.followups.rules import FollowUpInput
from followthrough.processes.followups.workflow import FollowUpWorkflow
from followthrough.processes.integrations.rules import IntegrationSyncInput
from followthrough.processes.integrations.workflow import IntegrationSyncWorkflow
from followthrough.processes.payments.records import PaymentRecordActivities
from followthrough.processes.payments.rules import MarkPaymentInput, PaymentInput, RecordCheckoutInput
from followthrough.processes.payments.workflow import PaymentWorkflow
from followthrough.services import Services
from followthrough.store.models import InboundMessage, Payment
from followthrough.store.models import Lead as LeadRow

LEAD = Lead(id="lead-real", phone="+5215577776666", name="Eva Soto", email="eva@example.com", language="en")


def _worker(env: WorkflowEnvironment, services: Services, task_queue: str) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[FollowUpWorkflow, PaymentWorkflow, IntegrationSyncWorkflow],
        activities=build_activities(services),
    )


async def test_reengagement_sends_through_the_sandbox_and_stops_at_a_stored_opt_out(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    async with _worker(ts_env, services, task_queue):
        handle = await ts_env.client.start_workflow(
            FollowUpWorkflow.run,
            FollowUpInput(lead=LEAD, type="cold_lead_reengagement"),
            id=f"followup-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await ts_env.sleep(timedelta(hours=61))  # 24 h and 60 h sent
        async with services.database.session() as session:
            row = await session.get(LeadRow, LEAD.id)
            if row is None:
                session.add(LeadRow(id=LEAD.id, phone=LEAD.phone, opted_out=True))
            else:
                row.opted_out = True
        result = await handle.result()
    assert [s.state for s in result.steps] == ["sent", "sent", "cancelled"]
    assert result.stopped_by == "opted_out"
    sent = await services.providers.outbox.entries(operation="send")
    assert [e.idempotency_key.split("@")[0] for e in sent] == [
        "followup:lead-real:cold_lead_reengagement:24h",
        "followup:lead-real:cold_lead_reengagement:60h",
    ]
    assert all(e.status == "sent" for e in sent)
    # Eva never wrote to us: WhatsApp's 24-hour window is closed, the sandbox's template goes out.
    assert sent[0].request["text"] is None
    assert sent[0].request["template"] == {
        "name": "sandbox_cold_lead_reengagement_24h",
        "language": "en",
        "parameters": ["Eva"],
    }


async def test_a_followup_goes_out_as_text_inside_the_window_and_as_a_template_outside(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    due = now + timedelta(hours=12)  # said_later's one step
    recent = LEAD.model_copy(update={"id": "lead-wrote-2h-before", "phone": "+5215577770001"})
    silent = LEAD.model_copy(update={"id": "lead-wrote-3d-before", "phone": "+5215577770002"})
    async with services.database.session() as session:
        session.add(LeadRow(id=recent.id, phone=recent.phone, last_inbound_at=due - timedelta(hours=2)))
        session.add(LeadRow(id=silent.id, phone=silent.phone, last_inbound_at=due - timedelta(days=3)))
    async with _worker(ts_env, services, task_queue):
        handles = [
            await ts_env.client.start_workflow(
                FollowUpWorkflow.run,
                FollowUpInput(lead=lead, type="said_later", triggered_at=now),
                id=f"followup-{lead.id}-said_later-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            for lead in (recent, silent)
        ]
        results = [await handle.result() for handle in handles]
    assert [[s.state for s in r.steps] for r in results] == [["sent"], ["sent"]]
    sent = {e.idempotency_key.split(":")[1]: e.request for e in await services.providers.outbox.entries("whatsapp")}
    assert sent[recent.id]["template"] is None
    assert sent[recent.id]["text"].startswith("Hi Eva, did you get a chance to look?")
    assert sent[silent.id]["text"] is None
    assert sent[silent.id]["template"] == {
        "name": "sandbox_said_later_12h_after",
        "language": "en",
        "parameters": ["Eva"],
    }


async def test_payment_never_paid_expires_with_records_in_the_store(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    input = PaymentInput(lead=LEAD, reference="ord-1", amount=9900, currency="usd", description="Starter")
    async with _worker(ts_env, services, task_queue):
        result = await ts_env.client.execute_workflow(
            PaymentWorkflow.run, input, id=f"payment-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result.state == "expired" and len(result.reminders_sent) == 2
    async with services.database.session() as session:
        row = await session.scalar(select(Payment).where(Payment.checkout_session_id == result.session_id))
    assert row is not None and row.status == "expired" and row.amount == 9900
    kinds = [e.idempotency_key.rsplit(":", 1)[1] for e in await services.providers.outbox.entries(operation="send")]
    assert kinds == ["link", "reminder-12h", "reminder-20h"]


async def test_integration_sync_through_the_sandboxes(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    input = IntegrationSyncInput(lead=LEAD, event="lead_created", event_id="l-1", occurred_at=datetime.now(UTC))
    async with _worker(ts_env, services, task_queue):
        result = await ts_env.client.execute_workflow(
            IntegrationSyncWorkflow.run, input, id=f"integration-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result.ok, result.targets
    keys = {e.idempotency_key for e in await services.providers.outbox.entries()}
    assert {"sync:lead-real:hubspot:lead_created:l-1", "sync:lead-real:meta_capi:lead_created:l-1"} <= keys


async def test_integration_sync_saves_the_memory_summary_on_the_lead(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    received = datetime(2025, 4, 2, 10, 0, tzinfo=UTC)
    async with services.database.session() as session:
        session.add(LeadRow(id=LEAD.id, phone=LEAD.phone))
        await session.flush()
        session.add(
            InboundMessage(lead_id=LEAD.id, provider_message_id="wamid.m1", text="Need a demo", received_at=received)
        )
    input = IntegrationSyncInput(
        lead=LEAD, event="lead_created", event_id="mem-1", occurred_at=received, targets=["memory"]
    )
    async with _worker(ts_env, services, task_queue):
        result = await ts_env.client.execute_workflow(
            IntegrationSyncWorkflow.run, input, id=f"integration-{uuid.uuid4()}", task_queue=task_queue
        )
    [memory] = result.targets
    async with services.database.session() as session:
        row = await session.get(LeadRow, LEAD.id)
    assert row is not None and memory.ok
    assert row.memory_summary == memory.detail and "Need a demo" in (row.memory_summary or "")
    assert row.memory_updated_at is not None and row.memory_updated_at.tzinfo is not None


# --- the activities on their own ----------------------------------------------------------
async def test_save_memory_keeps_the_newest_summary_and_creates_unknown_leads(services: Services) -> None:
    leads = LeadActivities(services)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    assert await leads.save_memory(SaveMemoryInput(lead_id="lead-m", summary="first", updated_at=at))
    assert await leads.save_memory(SaveMemoryInput(lead_id="lead-m", summary="first", updated_at=at))  # a retry
    older = SaveMemoryInput(lead_id="lead-m", summary="stale", updated_at=at - timedelta(hours=1))
    assert not await leads.save_memory(older)
    async with services.database.session() as session:
        row = await session.get(LeadRow, "lead-m")
    assert row is not None and (row.memory_summary, row.memory_updated_at) == ("first", at)


async def test_set_stage_returns_the_previous_stage_and_creates_unknown_leads(services: Services) -> None:
    leads = LeadActivities(services)
    assert await leads.set_stage(SetStageInput(lead_id="lead-new", stage="contacted")) is None
    assert await leads.set_stage(SetStageInput(lead_id="lead-new", stage="customer")) == "contacted"
    state = await leads.contact_state(ContactStateInput(lead_id="lead-new"))
    assert state.known and state.stage == "customer" and not state.opted_out
    assert not (await leads.contact_state(ContactStateInput(lead_id="nobody"))).known


async def test_recent_conversation_is_the_latest_inbound_oldest_first(services: Services) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    async with services.database.session() as session:
        session.add(LeadRow(id="lead-c", phone="+5215500001111"))
        await session.flush()
        for i in range(5):
            session.add(
                InboundMessage(
                    lead_id="lead-c", provider_message_id=f"w{i}", text=f"m{i}", received_at=base + timedelta(minutes=i)
                )
            )
    conversation = await LeadActivities(services).recent_conversation(
        RecentConversationInput(lead_id="lead-c", limit=3)
    )
    assert [m.text for m in conversation.messages] == ["m2", "m3", "m4"]


async def test_payment_records_are_idempotent_and_never_unpay(services: Services) -> None:
    records = PaymentRecordActivities(services)
    checkout = RecordCheckoutInput(
        lead=LEAD,
        reference="r",
        workflow_id="payment-x",
        session_id="cs_1",
        checkout_url="u",
        amount=100,
        currency="usd",
    )
    first = await records.record_checkout(checkout)
    assert await records.record_checkout(checkout) == first
    at = datetime(2025, 1, 1, tzinfo=UTC)
    assert await records.mark(MarkPaymentInput(session_id="cs_1", state="paid", at=at)) == "paid"
    assert await records.mark(MarkPaymentInput(session_id="cs_1", state="expired", at=at)) == "paid"
