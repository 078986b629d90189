"""Payments: the input, the Stripe webhook's signals, the status, and the timing rules.

The workflow creates a Stripe Checkout Session, sends its link, and waits up to
:data:`PAYMENT_WINDOW` for ``payment_completed`` (the Stripe webhook), reminding the lead at
each of :data:`REMINDER_OFFSETS` while it is still unpaid. It also reads the checkout back at
each of :data:`CHECK_OFFSETS` (and before each reminder), so a webhook that never arrives costs
minutes, not the 12 hours until the first reminder: :func:`checkpoints` is the whole timeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from followthrough.bounds import Amount, Id, Instant
from followthrough.leads.models import Lead
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.providers.contracts.payments import CheckoutSession, CreateCheckoutInput
from followthrough.providers.contracts.templates import catalog_message, format_amount, render

PAYMENT_WINDOW = timedelta(hours=24)
REMINDER_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=12), timedelta(hours=20))
#: Read-backs of the checkout with no message: most customers pay within minutes of the link,
#: and a lost webhook should not hold their receipt until the first reminder.
CHECK_OFFSETS: tuple[timedelta, ...] = (timedelta(minutes=15), timedelta(hours=1))

PaymentState = Literal["creating_checkout", "awaiting_payment", "paid", "expired"]


class PaymentInput(BaseModel):
    lead: Lead
    reference: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$", description="order/plan id")
    amount: Amount = Field(description="integer minor units (cents); routes: ≤ FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT")
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. mxn")
    description: str = Field(min_length=1, max_length=500)
    sync_integrations: bool = Field(
        default=True, description="once paid, push payment_completed to HubSpot, Meta and memory (IntegrationSync)"
    )

    @field_validator("currency")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class PaymentCompletedSignal(BaseModel):
    session_id: Id
    event_id: Id
    paid_at: Instant


class PaymentExpiredSignal(BaseModel):
    session_id: Id | None = None
    event_id: Id | None = None


class PaymentStatus(BaseModel):
    """The ``status`` query's answer and the workflow's result."""

    lead_id: str
    reference: str
    state: PaymentState = "creating_checkout"
    session_id: str | None = None
    checkout_url: str | None = None
    started_at: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    reminders_sent: list[AwareDatetime] = Field(default_factory=list)
    paid_at: AwareDatetime | None = None
    completion_event_id: str | None = None
    duplicate_completions: int = Field(default=0, description="completions ignored because one already counted")
    unconfirmed_completions: int = Field(
        default=0, description="payment_completed signals the provider did not confirm (not paid there)"
    )
    previous_stage: str | None = None
    failed_messages: list[str] = Field(default_factory=list, description="kind: error, for messages not sent")
    integration_sync: str | None = Field(default=None, description="id of the payment_completed sync started")


class RecordCheckoutInput(BaseModel):
    """Record the checkout in ``payments``; ``lead`` fills the lead's record when there is none."""

    lead: Lead
    reference: str
    workflow_id: str
    session_id: str
    checkout_url: str
    amount: Amount
    currency: str
    description: str | None = None
    expires_at: AwareDatetime | None = None


class MarkPaymentInput(BaseModel):
    session_id: str
    state: Literal["paid", "expired"]
    at: AwareDatetime
    event_id: str | None = None


def payment_workflow_id(lead_id: str, reference: str) -> str:
    return f"payment-{lead_id}-{reference}"


def checkout_key(lead_id: str, reference: str) -> str:
    """The Stripe Idempotency-Key: one checkout per lead and reference, however often retried."""
    return f"payment:{lead_id}:{reference}"


def message_key(lead_id: str, reference: str, kind: str) -> str:
    return f"payment:{lead_id}:{reference}:{kind}"


def reminder_instants(started_at: datetime) -> list[datetime]:
    return [started_at + offset for offset in REMINDER_OFFSETS]


def reminder_kind(offset: timedelta) -> str:
    return f"reminder-{int(offset.total_seconds() // 3600)}h"


def checkpoints() -> list[tuple[timedelta, str | None]]:
    """Offsets from the start at which the checkout is read back, in order, each with the
    reminder to send there while still unpaid (None: a read-back only)."""
    points: dict[timedelta, str | None] = dict.fromkeys(CHECK_OFFSETS)
    points.update((offset, reminder_kind(offset)) for offset in REMINDER_OFFSETS)
    return sorted(points.items(), key=lambda point: point[0])


def read_back_paid_at(reported: datetime | None, started: datetime, now: datetime) -> datetime:
    """``paid_at`` for a payment a read-back found: the provider's time, kept between the
    workflow's start and the read-back (a clock that disagrees cannot put it outside the
    order's life, nor outside what the signal's ``Instant`` accepts); the read-back's own time
    when the provider does not say."""
    return now if reported is None else max(started, min(reported, now))


def checkout_request(input: PaymentInput, workflow_id: str) -> CreateCheckoutInput:
    """The Checkout Session to create: its metadata names the workflow the webhook signals."""
    return CreateCheckoutInput(
        amount=input.amount,
        currency=input.currency,
        description=input.description,
        metadata={"workflow_id": workflow_id, "lead_id": input.lead.id, "reference": input.reference},
        customer_email=input.lead.email,
        expires_in_minutes=int(PAYMENT_WINDOW.total_seconds() // 60),
        idempotency_key=checkout_key(input.lead.id, input.reference),
    )


def record_checkout_request(input: PaymentInput, workflow_id: str, checkout: CheckoutSession) -> RecordCheckoutInput:
    """The pending payment to record for the checkout just created."""
    return RecordCheckoutInput(
        lead=input.lead,
        reference=input.reference,
        workflow_id=workflow_id,
        session_id=checkout.session_id,
        checkout_url=checkout.url or "",
        amount=input.amount,
        currency=input.currency,
        description=input.description,
        expires_at=checkout.expires_at,
    )


def payment_message(input: PaymentInput, kind: str, checkout_url: str | None) -> SendMessageInput:
    """``kind`` is ``link``, ``reminder-<h>h`` or ``receipt``."""
    message = "payment/reminder" if kind.startswith("reminder") else f"payment/{kind}"
    amount, url, reference = format_amount(input.amount, input.currency), checkout_url or "", input.reference
    return SendMessageInput(
        to=input.lead.phone,
        text=render(message, input.lead, amount=amount, url=url, reference=reference),
        catalog=catalog_message(message, input.lead, amount=amount, url=url, reference=reference),
        idempotency_key=message_key(input.lead.id, input.reference, kind),
    )
