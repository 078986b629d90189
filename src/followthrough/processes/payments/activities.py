"""Payments activities (Stripe Checkout): create a session (once per key; the key is also
Stripe's Idempotency-Key) and read one."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.payments import CheckoutSession, CreateCheckoutInput, GetCheckoutInput
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services


class PaymentsActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    @activity.defn(name="payments.create_checkout")
    async def create_checkout(self, input: CreateCheckoutInput) -> CheckoutSession:
        provider = self._providers.payments
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="checkout",
                key=input.idempotency_key,
                request=input,
                result_type=CheckoutSession,
                call=lambda: provider.create_checkout(input),
            )

    @activity.defn(name="payments.get_checkout")
    async def get_checkout(self, input: GetCheckoutInput) -> CheckoutSession:
        with provider_call():
            return await self._providers.payments.get_checkout(input)
