"""appointments.create / appointments.cancel against a migrated per-test store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from followthrough.leads.models import Lead as LeadInput
from followthrough.processes.bookings.appointments import AppointmentActivities
from followthrough.processes.bookings.rules import CancelAppointmentInput, CreateAppointmentInput
from followthrough.services import Services
from followthrough.store.models import Appointment, Lead

START = datetime(2031, 3, 4, 15, tzinfo=UTC)
LEAD = LeadInput(id="lead-a1", phone="+5215500001111", name="Ana", email="ana@example.com", language="en")


def create_input(booking_id: str = "cal-uid-1") -> CreateAppointmentInput:
    return CreateAppointmentInput(
        lead=LEAD, booking_id=booking_id, start=START, end=START + timedelta(minutes=30), workflow_id="booking-x"
    )


async def test_create_records_the_lead_and_the_appointment_once(services: Services) -> None:
    acts, env = AppointmentActivities(services), ActivityEnvironment()
    first = await env.run(acts.create, create_input())
    again = await env.run(acts.create, create_input())  # a retry of the same booking
    assert again == first
    assert (first.lead_id, first.booking_id, first.status, first.start) == ("lead-a1", "cal-uid-1", "scheduled", START)
    async with services.database.session() as session:
        lead = await session.get(Lead, "lead-a1")
        rows = (await session.scalars(Appointment.__table__.select())).all()
    assert lead is not None and (lead.phone, lead.language, lead.stage) == ("+5215500001111", "en", "new")
    assert len(rows) == 1


async def test_create_keeps_an_existing_lead_record(services: Services) -> None:
    async with services.database.session() as session:
        session.add(Lead(id="lead-a1", phone="+5215500001111", name="Ana María", stage="qualified"))
    record = await ActivityEnvironment().run(AppointmentActivities(services).create, create_input())
    async with services.database.session() as session:
        lead = await session.get(Lead, "lead-a1")
    assert record.lead_id == "lead-a1"
    assert lead is not None and (lead.name, lead.stage) == ("Ana María", "qualified")


async def test_cancel_marks_it_cancelled_and_is_harmless_to_repeat(services: Services) -> None:
    acts, env = AppointmentActivities(services), ActivityEnvironment()
    created = await env.run(acts.create, create_input())
    cancelled = await env.run(acts.cancel, CancelAppointmentInput(appointment_id=created.id))
    again = await env.run(acts.cancel, CancelAppointmentInput(appointment_id=created.id))
    assert cancelled is not None and cancelled.status == "cancelled"
    assert again == cancelled
    assert await env.run(acts.cancel, CancelAppointmentInput(appointment_id="no-such")) is None
