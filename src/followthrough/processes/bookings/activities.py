"""Appointment records: the demo-booking saga's second step and its undo.

``appointments.create`` is idempotent on the calendar's booking id (a retry returns the record
the first attempt wrote); ``appointments.cancel`` marks the record cancelled and is harmless to
repeat. The lead's row is created when the store has none yet (the booking may be the first
thing the store hears of the lead), never overwritten.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.bookings.rules import AppointmentRecord, CancelAppointmentInput, CreateAppointmentInput
from followthrough.services import Services
from followthrough.store.models import Appointment
from followthrough.store.repositories import LeadData, ensure_lead
from followthrough.store.types import utcnow


def _record(row: Appointment) -> AppointmentRecord:
    return AppointmentRecord(
        id=row.id,
        lead_id=row.lead_id,
        booking_id=row.calendar_booking_id,
        start=row.start_at,
        end=row.end_at,
        status=row.status,
    )


class AppointmentActivities:
    def __init__(self, services: Services) -> None:
        self._db = services.database

    @activity.defn(name="appointments.create")
    async def create(self, input: CreateAppointmentInput) -> AppointmentRecord:
        with as_temporal_errors():
            existing = await self._by_booking(input.booking_id)
            if existing is not None:
                return existing
            try:
                async with self._db.session() as session:
                    await ensure_lead(session, LeadData.model_validate(input.lead.model_dump()))
                    row = Appointment(
                        lead_id=input.lead.id,
                        start_at=input.start,
                        end_at=input.end,
                        calendar_booking_id=input.booking_id,
                        status="scheduled",
                        workflow_id=input.workflow_id,
                    )
                    session.add(row)
                    await session.flush()
                    return _record(row)
            except IntegrityError as exc:
                # A concurrent attempt wrote the same booking first: that record is ours.
                existing = await self._by_booking(input.booking_id)
                if existing is not None:
                    return existing
                raise ValidationError(f"appointment refused by the store: {exc.orig}", provider="store") from exc

    @activity.defn(name="appointments.cancel")
    async def cancel(self, input: CancelAppointmentInput) -> AppointmentRecord | None:
        """Mark the appointment cancelled; None when there is no such record (nothing to undo)."""
        async with self._db.session() as session:
            row = await session.get(Appointment, input.appointment_id)
            if row is None:
                return None
            if row.status != "cancelled":
                row.status = "cancelled"
                row.cancelled_at = utcnow()
            await session.flush()
            return _record(row)

    async def _by_booking(self, booking_id: str) -> AppointmentRecord | None:
        async with self._db.session() as session:
            row = await session.scalar(select(Appointment).where(Appointment.calendar_booking_id == booking_id))
            return _record(row) if row is not None else None
