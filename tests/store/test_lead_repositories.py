"""Leads, inbound messages, appointments and payments on every back-end."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from followthrough.store import Database
from followthrough.store.repositories import Appointments, LeadData, Leads, Payments, RecordNotFound

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def phone() -> str:
    return f"+34{random.randrange(10**8, 10**9)}"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def test_upsert_creates_then_updates_by_id_keeping_unset_fields(database: Database) -> None:
    leads = Leads(database)
    lead_id, number = uid("lead"), phone()
    created = await leads.upsert(LeadData(id=lead_id, phone=number, name="Ana", language="es"))
    assert (created.id, created.stage, created.opted_out) == (lead_id, "new", False)
    updated = await leads.upsert(LeadData(id=lead_id, company="Acme"))
    assert (updated.name, updated.company, updated.phone) == ("Ana", "Acme", number)


async def test_upsert_by_phone_finds_the_existing_lead(database: Database) -> None:
    leads = Leads(database)
    number = phone()
    first = await leads.upsert(LeadData(phone=number, name="Ben"))
    again = await leads.upsert(LeadData(phone=number, email="ben@example.com"))
    assert again.id == first.id and again.email == "ben@example.com"
    found = await leads.get_by_phone(number)
    assert found is not None and found.id == first.id


async def test_concurrent_upserts_of_a_new_phone_leave_one_lead(database: Database) -> None:
    leads = Leads(database)
    number = phone()
    results = await asyncio.gather(*(leads.upsert(LeadData(phone=number, name=f"n{i}")) for i in range(3)))
    assert len({lead.id for lead in results}) == 1


async def test_save_memory_keeps_the_newest_summary(database: Database) -> None:
    leads = Leads(database)
    lead = await leads.upsert(LeadData(id=uid("lead"), phone=phone()))
    assert await leads.save_memory(lead.id, "- wants the Pro plan", T0)
    assert await leads.save_memory(lead.id, "- wants the Pro plan\n- demo Friday", T0 + timedelta(hours=1))
    assert not await leads.save_memory(lead.id, "- stale", T0)  # an older summary never wins
    stored = await leads.get(lead.id)
    assert stored is not None and stored.phone == lead.phone
    assert (stored.memory_summary, stored.memory_updated_at) == (
        "- wants the Pro plan\n- demo Friday",
        T0 + timedelta(hours=1),
    )


async def test_save_memory_of_an_unknown_lead_creates_it_once_under_concurrency(database: Database) -> None:
    leads = Leads(database)
    lead_id = uid("lead")
    saved = await asyncio.gather(*(leads.save_memory(lead_id, "same", T0) for _ in range(3)))
    assert saved == [True, True, True]
    stored = await leads.get(lead_id)
    assert stored is not None and (stored.memory_summary, stored.stage) == ("same", "new")


async def test_set_stage_returns_the_previous_stage(database: Database) -> None:
    leads = Leads(database)
    lead = await leads.upsert(LeadData(id=uid("lead")))
    assert await leads.set_stage(lead.id, "contacted") == "new"
    assert await leads.set_stage(lead.id, "demo_scheduled") == "contacted"
    with pytest.raises(RecordNotFound):
        await leads.set_stage(uid("missing"), "x")


async def test_opt_out_happens_once_and_keeps_the_first_instant(database: Database) -> None:
    leads = Leads(database)
    lead = await leads.upsert(LeadData(id=uid("lead")))
    assert await leads.opt_out(lead.id, at=T0) is True
    assert await leads.opt_out(lead.id, at=T0 + timedelta(days=1)) is False
    stored = await leads.get(lead.id)
    assert stored is not None and stored.opted_out and stored.opted_out_at == T0
    with pytest.raises(RecordNotFound):
        await leads.opt_out(uid("missing"))


async def test_an_inbound_message_is_stored_once_per_provider_id(database: Database) -> None:
    leads = Leads(database)
    lead = await leads.upsert(LeadData(id=uid("lead")))
    wamid = uid("wamid")
    first = await leads.record_inbound(lead.id, provider_message_id=wamid, text="hola", received_at=T0)
    again = await leads.record_inbound(lead.id, provider_message_id=wamid, text="hola", received_at=T0)
    assert first.created and not again.created and again.message.id == first.message.id
    older = T0 - timedelta(hours=1)
    await leads.record_inbound(lead.id, provider_message_id=uid("wamid"), text="antes", received_at=older)
    stored = await leads.get(lead.id)
    assert stored is not None and stored.last_inbound_at == T0  # never moves back
    assert [m.text for m in await leads.inbound_messages(lead.id)] == ["antes", "hola"]


async def test_appointments_are_recorded_once_per_booking(database: Database) -> None:
    lead = await Leads(database).upsert(LeadData(id=uid("lead")))
    appointments = Appointments(database)
    booking = uid("cal")
    first = await appointments.record_booking(
        lead_id=lead.id, start_at=T0, end_at=T0 + timedelta(minutes=30), calendar_booking_id=booking
    )
    again = await appointments.record_booking(
        lead_id=lead.id, start_at=T0, end_at=T0 + timedelta(minutes=30), calendar_booking_id=booking
    )
    assert again.id == first.id and first.status == "scheduled"
    moved = await appointments.reschedule(first.id, T0 + timedelta(days=1), T0 + timedelta(days=1, minutes=30))
    assert moved.status == "rescheduled" and moved.start_at == T0 + timedelta(days=1)
    cancelled = await appointments.set_status(first.id, "cancelled")
    assert cancelled.cancelled_at is not None
    assert [a.id for a in await appointments.for_lead(lead.id)] == [first.id]
    with pytest.raises(IntegrityError):  # an unknown lead is not a duplicate booking
        await appointments.record_booking(lead_id=uid("missing"), start_at=T0, end_at=T0, calendar_booking_id=uid("c"))


async def test_a_payment_is_paid_once(database: Database) -> None:
    lead = await Leads(database).upsert(LeadData(id=uid("lead")))
    payments = Payments(database)
    payment_id = uid("pay")
    payment = await payments.create(lead_id=lead.id, amount=4900, currency="EUR", payment_id=payment_id)
    assert (await payments.create(lead_id=lead.id, amount=4900, currency="EUR", payment_id=payment_id)).id == payment_id
    assert payment.currency == "eur" and payment.status == "pending"
    session_id = uid("cs")
    await payments.attach_checkout(
        payment_id, checkout_session_id=session_id, checkout_url="https://checkout", expires_at=T0 + timedelta(days=1)
    )
    assert await payments.mark_paid(payment_id, T0) is True
    assert await payments.mark_paid(payment_id, T0 + timedelta(hours=1)) is False
    assert (await payments.set_status(payment_id, "expired")).status == "paid"  # paid stays paid
    stored = await payments.get_by_session(session_id)
    assert stored is not None and stored.paid_at == T0 and stored.amount == 4900
    with pytest.raises(ValueError):
        await payments.create(lead_id=lead.id, amount=0, currency="eur")


async def test_a_checkout_is_recorded_once_with_its_lead_and_settled_once(database: Database) -> None:
    payments = Payments(database)
    lead = LeadData(id=uid("lead"), phone=phone(), name="Eva", language="en")
    session_id = uid("cs")
    fields = {"checkout_session_id": session_id, "checkout_url": "https://checkout", "amount": 9900, "currency": "usd"}
    recorded = await asyncio.gather(*(payments.record_checkout(lead, **fields, reference="ord-1") for _ in range(3)))
    assert len({p.id for p in recorded}) == 1 and recorded[0].status == "pending"
    stored_lead = await Leads(database).get(str(lead.id))
    assert stored_lead is not None and (stored_lead.phone, stored_lead.name) == (lead.phone, "Eva")

    assert await payments.settle_session(session_id, "paid", T0) == "paid"
    assert await payments.settle_session(session_id, "expired", T0 + timedelta(hours=1)) == "paid"  # never unpaid
    stored = await payments.get_by_session(session_id)
    assert stored is not None and stored.paid_at == T0
    with pytest.raises(RecordNotFound):
        await payments.settle_session(uid("cs"), "paid", T0)


async def test_ensure_lead_never_overwrites_an_existing_lead(database: Database) -> None:
    leads = Leads(database)
    lead = await leads.upsert(LeadData(id=uid("lead"), phone=phone(), name="Ana", stage="customer"))
    other = LeadData(id=lead.id, name="Someone else")
    await Payments(database).record_checkout(
        other, checkout_session_id=uid("cs"), checkout_url=None, amount=100, currency="eur"
    )
    stored = await leads.get(lead.id)
    assert stored is not None and (stored.name, stored.stage) == ("Ana", "customer")
