"""Appointment records: the demo-booking saga's second step and its undo.

``appointments.create`` is idempotent on the calendar's booking id (a retry returns the record
the first attempt wrote); ``appointments.cancel`` marks the record cancelled and is harmless to
repeat. The lead's row is created when the store has none yet (the booking may be the first
thing the store hears of the lead), never overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.bookings.rules import AppointmentRecord, CancelAppointmentInput, CreateAppointmentInput
from followthrough.services import Services

if TYPE_CHECKING:
    from followthrough.store.models import Appointment


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
        from followthrough.store.repositories.sales import Appointments

        self._appointments = Appointments(services.database)

    @activity.defn(name="appointments.create")
    async def create(self, input: CreateAppointmentInput) -> AppointmentRecord:
        from followthrough.store.repositories.leads import LeadData
        from followthrough.store.repositories.sales import WriteRefused

        with as_temporal_errors():
            try:
                row, _ = await self._appointments.book(
                    LeadData.model_validate(input.lead.model_dump()),
                    start_at=input.start,
                    end_at=input.end,
                    calendar_booking_id=input.booking_id,
                    workflow_id=input.workflow_id,
                )
            except WriteRefused as exc:
                raise ValidationError(f"appointment refused by the store: {exc}", provider="store") from exc
            return _record(row)

    @activity.defn(name="appointments.cancel")
    async def cancel(self, input: CancelAppointmentInput) -> AppointmentRecord | None:
        """Mark the appointment cancelled; None when there is no such record (nothing to undo)."""
        row = await self._appointments.cancel(input.appointment_id)
        return _record(row) if row is not None else None
