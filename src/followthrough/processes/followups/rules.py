"""Follow-ups: the input, the signals, and the schedule as a pure function.

A follow-up is a short sequence of messages at absolute UTC instants, computed from the demo's
start/end or from the moment the follow-up was triggered:

==========================  =====================================  ==========================
type                        step(s)                                due at
==========================  =====================================  ==========================
``pre_demo_24h``            ``24h_before``                         demo_start − 24 h
``pre_demo_reminder``       ``30min_before``                       demo_start − 30 min
``post_demo``               ``2min_after``                         demo_end + 2 min
``said_later``              ``12h_after``                          triggered_at + 12 h
``cold_lead_reengagement``  ``24h`` / ``60h`` / ``168h``            triggered_at + 24/60/168 h
==========================  =====================================  ==========================

A step whose moment has already passed when the workflow starts (or after a reschedule) is
``skipped``, never sent late. The workflow holds the list of steps and asks these functions what
to do next; unit tests exercise them directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from followthrough.bounds import Id, Instant, Text
from followthrough.leads.models import Lead
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.providers.contracts.templates import catalog_message, followup_message

FollowUpType = Literal["pre_demo_24h", "pre_demo_reminder", "post_demo", "said_later", "cold_lead_reengagement"]
FOLLOWUP_TYPES: tuple[FollowUpType, ...] = (
    "pre_demo_24h",
    "pre_demo_reminder",
    "post_demo",
    "said_later",
    "cold_lead_reengagement",
)
#: The types whose timers hang on the demo (``demo_changed`` moves or cancels them).
DEMO_TYPES: frozenset[str] = frozenset({"pre_demo_24h", "pre_demo_reminder", "post_demo"})

StepState = Literal["pending", "sent", "skipped", "cancelled"]
Anchor = Literal["demo_start", "demo_end", "triggered_at"]

#: (step name, anchor, offset from the anchor) per type, in order.
SCHEDULES: dict[str, tuple[tuple[str, Anchor, timedelta], ...]] = {
    "pre_demo_24h": (("24h_before", "demo_start", -timedelta(hours=24)),),
    "pre_demo_reminder": (("30min_before", "demo_start", -timedelta(minutes=30)),),
    "post_demo": (("2min_after", "demo_end", timedelta(minutes=2)),),
    "said_later": (("12h_after", "triggered_at", timedelta(hours=12)),),
    "cold_lead_reengagement": (
        ("24h", "triggered_at", timedelta(hours=24)),
        ("60h", "triggered_at", timedelta(hours=60)),
        ("168h", "triggered_at", timedelta(hours=168)),
    ),
}

#: A timer that fires later than this after its instant (a worker was down for a while) is
#: skipped rather than sent: a "your demo starts in 30 minutes" an hour late is worse than none.
MAX_LATENESS = timedelta(minutes=15)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


class FollowUpInput(BaseModel):
    lead: Lead
    type: FollowUpType
    demo_start: Instant | None = Field(default=None, description="UTC; required by pre_demo_* types")
    demo_end: Instant | None = Field(default=None, description="UTC; required by post_demo")
    triggered_at: Instant | None = Field(
        default=None, description="when the lead said later / went cold; unset = when the workflow starts"
    )

    @field_validator("demo_start", "demo_end", "triggered_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _needs_the_demo(self) -> FollowUpInput:
        missing = {a for _, a, _ in SCHEDULES[self.type] if a != "triggered_at" and getattr(self, a) is None}
        if missing:
            raise ValueError(f"{self.type} needs {' and '.join(sorted(missing))}")
        if self.demo_start and self.demo_end and self.demo_end <= self.demo_start:
            raise ValueError("demo_end must be after demo_start")
        return self


class FollowUpStep(BaseModel):
    index: int = Field(description="1-based position in the sequence")
    name: str
    due_at: AwareDatetime
    state: StepState = "pending"
    sent_at: AwareDatetime | None = None
    message_id: str | None = None
    reason: str | None = Field(default=None, description="why the step was skipped or cancelled")


class FollowUpStatus(BaseModel):
    """The ``status`` query's answer and the workflow's result."""

    lead_id: str
    type: FollowUpType
    state: Literal["running", "completed", "stopped"] = "running"
    stopped_by: str | None = Field(default=None, description="the signal or check that ended it early")
    demo_start: AwareDatetime | None = None
    demo_end: AwareDatetime | None = None
    steps: list[FollowUpStep] = Field(default_factory=list)


# --- signals ------------------------------------------------------------------------------
class OptedOutSignal(BaseModel):
    reason: Text | None = None


class DemoBookedSignal(BaseModel):
    demo_start: Instant | None = None
    booking_id: Id | None = None


class DemoChangedSignal(BaseModel):
    """A reschedule (new start/end) or, with ``cancelled=True``, a cancellation."""

    demo_start: Instant | None = None
    demo_end: Instant | None = None
    cancelled: bool = False

    @field_validator("demo_start", "demo_end")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _says_something(self) -> DemoChangedSignal:
        if not self.cancelled and self.demo_start is None and self.demo_end is None:
            raise ValueError("give the new demo_start/demo_end, or cancelled=true")
        if self.demo_start and self.demo_end and self.demo_end <= self.demo_start:
            raise ValueError("demo_end must be after demo_start")
        return self


# --- the schedule -------------------------------------------------------------------------
def followup_workflow_id(lead_id: str, type: str) -> str:
    return f"followup-{lead_id}-{type}"


def message_key(lead_id: str, type: str, step: FollowUpStep) -> str:
    """``followup:{lead}:{type}:{step}``, where the step is its name and due instant.

    The instant is part of the step's identity: a retry of the same message dedupes, but a
    reminder for a demo moved to another day is a new message, not a duplicate of the old one.
    """
    return f"followup:{lead_id}:{type}:{step.name}@{step.due_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _anchors(demo_start: datetime | None, demo_end: datetime | None, triggered_at: datetime) -> dict[str, datetime]:
    values = {"demo_start": demo_start, "demo_end": demo_end, "triggered_at": triggered_at}
    return {k: v.astimezone(UTC) for k, v in values.items() if v is not None}


def plan(
    type: str,
    *,
    demo_start: datetime | None,
    demo_end: datetime | None,
    triggered_at: datetime,
    now: datetime,
) -> list[FollowUpStep]:
    """The steps of a follow-up with their absolute UTC instants; those already past are skipped."""
    anchors = _anchors(demo_start, demo_end, triggered_at)
    steps = []
    for index, (name, anchor, offset) in enumerate(SCHEDULES[type], start=1):
        if anchor not in anchors:
            raise ValueError(f"{type} needs {anchor}")
        steps.append(FollowUpStep(index=index, name=name, due_at=anchors[anchor] + offset))
    return skip_past(steps, now, reason="its moment had passed when the follow-up started")


def skip_past(steps: list[FollowUpStep], now: datetime, *, reason: str) -> list[FollowUpStep]:
    """Pending steps due before ``now`` become ``skipped`` (a step due exactly now is still sent)."""
    return [
        s.model_copy(update={"state": "skipped", "reason": reason}) if s.state == "pending" and s.due_at < now else s
        for s in steps
    ]


def reschedule(
    type: str,
    steps: list[FollowUpStep],
    *,
    demo_start: datetime | None,
    demo_end: datetime | None,
    now: datetime,
) -> list[FollowUpStep]:
    """Move the pending steps of a demo follow-up to the demo's new instants.

    Steps already sent or skipped stay as they are; a moved step whose new moment has passed
    is skipped. An anchor the change does not give keeps its old value, so
    ``demo_changed(demo_start=…)`` alone moves a pre-demo reminder.
    """
    if type not in DEMO_TYPES:
        return steps
    moved = []
    for step, (_, anchor, offset) in zip(steps, SCHEDULES[type], strict=True):
        new_anchor = {"demo_start": demo_start, "demo_end": demo_end}.get(anchor)
        if step.state == "pending" and new_anchor is not None:
            step = step.model_copy(update={"due_at": new_anchor.astimezone(UTC) + offset})
        moved.append(step)
    return skip_past(moved, now, reason="the demo moved and this moment has passed")


def moved_demo(
    old_start: datetime | None,
    old_end: datetime | None,
    new_start: datetime | None,
    new_end: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    """The demo's new (start, end). A change that gives only the start keeps the demo's length,
    so the post-demo message moves with it; one that gives only the end keeps the start."""
    if new_start is not None and new_end is None and old_start is not None and old_end is not None:
        new_end = new_start + (old_end - old_start)
    return (new_start or old_start), (new_end or old_end)


def cancel_pending(steps: list[FollowUpStep], reason: str) -> list[FollowUpStep]:
    return [s.model_copy(update={"state": "cancelled", "reason": reason}) if s.state == "pending" else s for s in steps]


def next_pending(steps: list[FollowUpStep]) -> FollowUpStep | None:
    pending = [s for s in steps if s.state == "pending"]
    return min(pending, key=lambda s: (s.due_at, s.index)) if pending else None


def too_late(step: FollowUpStep, now: datetime) -> bool:
    return now - step.due_at > MAX_LATENESS


def replace_step(steps: list[FollowUpStep], step: FollowUpStep) -> list[FollowUpStep]:
    return [step if s.index == step.index else s for s in steps]


def stop_reason(type: str, signal: str) -> str | None:
    """The stop reason a signal means for this type, or None when it does not stop it."""
    if signal in ("lead_replied", "opted_out"):
        return signal
    if signal == "demo_booked" and type == "cold_lead_reengagement":
        return signal
    return None


def send_request(lead: Lead, type: str, step: FollowUpStep, demo_start: datetime | None) -> SendMessageInput:
    """The ``messaging.send`` input for one step: its template in the lead's language, its key."""
    return SendMessageInput(
        to=lead.phone,
        text=followup_message(type, step.name, lead, demo_start),
        catalog=catalog_message(f"{type}/{step.name}", lead, demo_start=demo_start),
        idempotency_key=message_key(lead.id, type, step),
    )
