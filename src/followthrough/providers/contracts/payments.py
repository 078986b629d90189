"""Inputs and results of the payments capability (Stripe Checkout)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

CheckoutStatus = Literal["open", "complete", "expired"]


class CreateCheckoutInput(BaseModel):
    """A one-line Checkout Session; ``metadata`` must carry ``workflow_id`` and ``lead_id`` so the
    webhook can signal the workflow that waits for it."""

    amount: int = Field(gt=0, description="minor units (cents)")
    currency: str = Field(min_length=3, max_length=3)
    description: str = Field(min_length=1, max_length=250)
    metadata: dict[str, str]
    customer_email: str | None = Field(default=None, max_length=320)
    expires_in_minutes: int = Field(default=24 * 60, ge=30, le=24 * 60, description="Stripe allows 30 min to 24 h")
    success_url: str | None = None
    cancel_url: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=255)

    @field_validator("currency")
    @classmethod
    def _lower(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError("must be a three-letter ISO currency code")
        return value.lower()

    @field_validator("metadata")
    @classmethod
    def _identifies_the_workflow(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [k for k in ("workflow_id", "lead_id") if not value.get(k)]
        if missing:
            raise ValueError(f"metadata must include {', '.join(missing)}")
        return value


class CheckoutSession(BaseModel):
    session_id: str
    url: str | None
    status: CheckoutStatus
    payment_status: str = Field(description="paid | unpaid | no_payment_required")
    amount: int | None = None
    currency: str | None = None
    expires_at: AwareDatetime
    metadata: dict[str, str] = Field(default_factory=dict)
    paid_at: AwareDatetime | None = Field(
        default=None,
        description="when the customer paid, as the provider reports it (Stripe: the charge's created); "
        "None while unpaid or when the provider does not say",
    )


class GetCheckoutInput(BaseModel):
    session_id: str = Field(min_length=1)


class SandboxCheckoutEvent(BaseModel):
    """What completing (or expiring) a sandbox checkout produced, shaped like the Stripe event
    the webhook would have received: the payments route signals the workflow with it."""

    event_id: str
    type: Literal["checkout.session.completed", "checkout.session.expired"]
    session: CheckoutSession
    created_at: AwareDatetime
