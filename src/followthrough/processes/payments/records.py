"""Payment records: the checkout the workflow created, then paid or expired.

``record_checkout`` is idempotent on the Stripe session id (a retry finds the row the first
attempt wrote); ``mark`` only moves a pending payment, so a late or repeated event cannot turn a
paid payment back into an expired one. Both are :class:`~followthrough.store.repositories.Payments`
calls; the lead's record is created when the store has none yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.payments.rules import MarkPaymentInput, RecordCheckoutInput

if TYPE_CHECKING:
    from followthrough.services import Services


class PaymentRecordActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories import Payments  # the store loads with the worker

        self._payments = Payments(services.database)

    @activity.defn(name="payment_records.record_checkout")
    async def record_checkout(self, input: RecordCheckoutInput) -> str:
        """Write the pending payment; returns its record id."""
        from followthrough.store.repositories import LeadData

        with as_temporal_errors():
            payment = await self._payments.record_checkout(
                LeadData(**input.lead.model_dump()),
                checkout_session_id=input.session_id,
                checkout_url=input.checkout_url,
                amount=input.amount,
                currency=input.currency,
                reference=input.reference,
                description=input.description,
                expires_at=input.expires_at,
                workflow_id=input.workflow_id,
            )
            return payment.id

    @activity.defn(name="payment_records.mark")
    async def mark(self, input: MarkPaymentInput) -> str:
        """Mark the payment paid or expired; returns the status it has afterwards."""
        from followthrough.store.repositories import RecordNotFound

        with as_temporal_errors():
            try:
                return await self._payments.settle_session(input.session_id, input.state, input.at)
            except RecordNotFound:
                raise ValidationError(f"no payment recorded for checkout session {input.session_id!r}") from None
