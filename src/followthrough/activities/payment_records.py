"""Payment records: the checkout the workflow created, then paid or expired.

``record_checkout`` is idempotent on the Stripe session id (a retry finds the row the first
attempt wrote); ``mark`` only moves a pending payment, so a late or repeated event cannot turn a
paid payment back into an expired one.
"""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from followthrough.domain.payment import MarkPaymentInput, RecordCheckoutInput
from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.services import Services
from followthrough.store.models import Lead, Payment


class PaymentRecordActivities:
    def __init__(self, services: Services) -> None:
        self._db = services.database

    @activity.defn(name="payment_records.record_checkout")
    async def record_checkout(self, input: RecordCheckoutInput) -> str:
        """Write the pending payment; returns its record id."""
        with as_temporal_errors():
            async with self._db.session() as session:
                existing = await session.scalar(select(Payment).where(Payment.checkout_session_id == input.session_id))
                if existing is not None:
                    return existing.id
                if await session.get(Lead, input.lead.id) is None:
                    session.add(
                        Lead(
                            id=input.lead.id,
                            phone=input.lead.phone,
                            name=input.lead.name,
                            email=input.lead.email,
                            language=input.lead.language,
                        )
                    )
                    await session.flush()
                row = Payment(
                    lead_id=input.lead.id,
                    reference=input.reference,
                    checkout_session_id=input.session_id,
                    checkout_url=input.checkout_url,
                    amount=input.amount,
                    currency=input.currency,
                    description=input.description,
                    status="pending",
                    expires_at=input.expires_at,
                    workflow_id=input.workflow_id,
                )
                session.add(row)
                await session.flush()
                return row.id

    @activity.defn(name="payment_records.mark")
    async def mark(self, input: MarkPaymentInput) -> str:
        """Mark the payment paid or expired; returns the status it has afterwards."""
        with as_temporal_errors():
            async with self._db.session() as session:
                row = await session.scalar(
                    select(Payment).where(Payment.checkout_session_id == input.session_id).with_for_update()
                )
                if row is None:
                    raise ValidationError(f"no payment recorded for checkout session {input.session_id!r}")
                if row.status == "pending":
                    row.status = input.state
                    if input.state == "paid":
                        row.paid_at = input.at
                return row.status
