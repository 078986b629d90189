"""Inputs and results of the calendar capability (Cal.com v2): bookings and free slots."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field


class CreateBookingInput(BaseModel):
    """Book ``start`` (UTC) on an event type for one attendee; ``metadata`` carries ``lead_id``
    so the Cal.com webhook can find the lead's workflows."""

    start: AwareDatetime
    attendee_name: str = Field(min_length=1, max_length=200)
    attendee_email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    attendee_time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    attendee_language: str = Field(default="es", min_length=2, max_length=10)
    attendee_phone: str | None = None
    event_type_id: int | None = Field(default=None, gt=0, description="unset = CALCOM_EVENT_TYPE_ID")
    metadata: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=255)


class Booking(BaseModel):
    uid: str
    id: int | None = None
    start: AwareDatetime
    end: AwareDatetime
    status: str = Field(description="accepted | pending | cancelled | rejected")
    meeting_url: str | None = None


class CancelBookingInput(BaseModel):
    uid: str = Field(min_length=1)
    reason: str = Field(default="cancelled", max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=255)


class CancelBookingResult(BaseModel):
    uid: str
    status: str


class ListSlotsInput(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    event_type_id: int | None = Field(default=None, gt=0)
    time_zone: str = "UTC"


class SlotsResult(BaseModel):
    slots: list[AwareDatetime]
