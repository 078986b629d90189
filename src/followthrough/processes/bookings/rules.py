"""The demo-booking saga's inputs, result and pure rules.

The saga, in order (:data:`STEPS`), and the undo of each step that has one (:data:`UNDO`)::

    calendar_booking  → cancel_calendar_booking   (calendar.create_booking / calendar.cancel_booking)
    appointment       → cancel_appointment        (appointments.create / appointments.cancel)
    lead_stage        → restore_lead_stage        (leads.set_stage to demo_scheduled / back)
    confirmation      →  (a sent message cannot be unsent)
    followups         →  (pre_demo_24h, pre_demo_reminder, post_demo children, abandon-on-close)

A failure undoes exactly the steps that completed before it, last first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from followthrough.bounds import INT32_MAX, Instant, is_time_zone
from followthrough.leads.models import Lead
from followthrough.processes.followups.rules import FollowUpType

Step = Literal["calendar_booking", "appointment", "lead_stage", "confirmation", "followups"]
Compensation = Literal["cancel_calendar_booking", "cancel_appointment", "restore_lead_stage"]

STEPS: tuple[Step, ...] = ("calendar_booking", "appointment", "lead_stage", "confirmation", "followups")
UNDO: dict[Step, Compensation] = {
    "calendar_booking": "cancel_calendar_booking",
    "appointment": "cancel_appointment",
    "lead_stage": "restore_lead_stage",
}

#: The follow-ups a booked demo gets, as child workflows.
DEMO_FOLLOWUP_TYPES: tuple[FollowUpType, ...] = ("pre_demo_24h", "pre_demo_reminder", "post_demo")

#: Longest demo we accept: a slot longer than this is a typo, not a demo.
MAX_DEMO_LENGTH = timedelta(hours=8)


class BookDemoInput(BaseModel):
    """Book ``lead`` a demo in the slot ``[start, end)`` (UTC instants)."""

    lead: Lead
    start: Instant
    end: Instant
    event_type_id: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Cal.com event type; None = the configured one"
    )
    timezone: str = Field(
        default="UTC", min_length=1, max_length=64, description="the attendee's IANA time zone, for the calendar invite"
    )
    notes: str | None = Field(default=None, max_length=2000)
    sync_integrations: bool = Field(
        default=True, description="once booked, push demo_scheduled to HubSpot, Meta and memory (IntegrationSync)"
    )

    @field_validator("start", "end")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Mexico_City, Europe/Madrid, UTC)")
        return value


class BookDemoResult(BaseModel):
    """What the saga did. ``ok`` False means ``failed_step`` failed and ``compensated`` was undone
    (in that order)."""

    ok: bool
    lead_id: str
    start: datetime
    end: datetime
    booking_id: str | None = None
    appointment_id: str | None = None
    previous_stage: str | None = None
    confirmation_message_id: str | None = None
    followups: list[str] = Field(default_factory=list, description="ids of the follow-up workflows")
    completed: list[Step] = Field(default_factory=list)
    failed_step: Step | None = None
    error: str | None = None
    error_type: str | None = None
    compensated: list[Compensation] = Field(default_factory=list)
    #: ``"undo: Type: message"`` of each undo that failed for good: left for a person to finish.
    compensation_errors: list[str] = Field(default_factory=list)
    integration_sync: str | None = Field(default=None, description="id of the demo_scheduled sync started")


class BookingStatus(BaseModel):
    """The ``status`` query: where the saga is now."""

    current_step: Step | Literal["done", "compensating", "failed"] | None = None
    completed: list[Step] = Field(default_factory=list)
    compensated: list[Compensation] = Field(default_factory=list)


class CreateAppointmentInput(BaseModel):
    """Record the demo; ``booking_id`` (the calendar's) makes the record idempotent. ``lead``
    fills the lead's record when the store has none yet."""

    lead: Lead
    booking_id: str
    start: AwareDatetime
    end: AwareDatetime
    workflow_id: str | None = None


class CancelAppointmentInput(BaseModel):
    appointment_id: str
    reason: str = "booking failed"


class AppointmentRecord(BaseModel):
    id: str
    lead_id: str
    booking_id: str | None
    start: datetime
    end: datetime
    status: str


def slot_problem(start: datetime, end: datetime, now: datetime) -> str | None:
    """Why the slot cannot be booked at ``now``, or None when it can."""
    if end <= start:
        return f"end {end.isoformat()} is not after start {start.isoformat()}"
    if end - start > MAX_DEMO_LENGTH:
        return f"a demo lasts at most {MAX_DEMO_LENGTH}; got {end - start}"
    if start <= now:
        return f"start {start.isoformat()} is in the past (now {now.isoformat()})"
    return None


def attendee_email(lead: Lead) -> str:
    """The calendar needs an attendee email; a WhatsApp lead may have none, so it gets an
    address on the reserved ``.invalid`` domain (RFC 2606) that can never receive mail."""
    return lead.email or f"lead-{lead.id.replace(':', '-')}@whatsapp.invalid"


def booking_workflow_id(lead_id: str, start: datetime) -> str:
    """``booking-{lead}-{slot start as %Y%m%dT%H%M%SZ}``: one saga per lead and slot."""
    return f"booking-{lead_id}-{start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def followup_workflow_id(lead_id: str, followup_type: str) -> str:
    return f"followup-{lead_id}-{followup_type}"


def booking_idempotency_key(lead_id: str, start: datetime) -> str:
    return f"booking:{lead_id}:{start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def confirmation_idempotency_key(lead_id: str, start: datetime) -> str:
    return f"booking-confirmation:{lead_id}:{start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


_CONFIRMATION = {
    "es": "¡Hola{name}! Tu demo está confirmada para el {when} (UTC). Te enviaremos un recordatorio antes.",
    "en": "Hi{name}! Your demo is confirmed for {when} (UTC). We'll send you a reminder beforehand.",
}


def confirmation_text(lead: Lead, start: datetime) -> str:
    """The confirmation message, in the lead's language."""
    name = f" {lead.first_name}" if lead.first_name else ""
    when = start.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return _CONFIRMATION[lead.language].format(name=name, when=when)
