"""``payments.create_checkout`` / ``payments.get_checkout`` through the activity layer."""

from __future__ import annotations

from collections.abc import Callable

import respx
from temporalio.testing import ActivityEnvironment

from followthrough.config import Settings
from followthrough.processes.payments.activities import PaymentsActivities
from followthrough.providers.contracts.payments import CreateCheckoutInput, GetCheckoutInput
from followthrough.providers.factory import build_providers
from followthrough.providers.payments import complete_sandbox_checkout
from followthrough.services import Services

SESSION = {
    "id": "cs_test_9",
    "object": "checkout.session",
    "url": "https://checkout.stripe.com/c/pay/cs_test_9",
    "status": "open",
    "payment_status": "unpaid",
    "amount_total": 9900,
    "currency": "usd",
    "expires_at": 1900000000,
    "metadata": {"workflow_id": "payment-lead-2-r1", "lead_id": "lead-2"},
}


def checkout() -> CreateCheckoutInput:
    return CreateCheckoutInput(
        amount=9900,
        currency="usd",
        description="Plan",
        metadata={"workflow_id": "payment-lead-2-r1", "lead_id": "lead-2"},
        idempotency_key="payment:lead-2:r1:checkout",
    )


async def test_checkout_twice_is_one_stripe_call_with_the_idempotency_key(
    services: Services, make_settings: Callable[..., Settings]
) -> None:
    sandboxed = services.providers
    services.providers = build_providers(
        make_settings(stripe_api_key="sk_test_1", stripe_base_url="http://stripe.fake"), sandboxed.outbox
    )
    try:
        activities = PaymentsActivities(services)
        env = ActivityEnvironment()
        with respx.mock:
            route = respx.post("http://stripe.fake/v1/checkout/sessions").respond(200, json=SESSION)
            first = await env.run(activities.create_checkout, checkout())
            second = await env.run(activities.create_checkout, checkout())
        assert first == second and first.session_id == "cs_test_9"
        assert route.call_count == 1
        assert route.calls.last.request.headers["Idempotency-Key"] == "payment:lead-2:r1:checkout"
        rows = await services.providers.outbox.entries(provider="stripe")
        assert [(r.operation, r.status) for r in rows] == [("checkout", "sent")]
    finally:
        await services.providers.aclose()
        services.providers = sandboxed


async def test_sandbox_checkout_paid_through_the_route_helper(services: Services) -> None:
    activities = PaymentsActivities(services)
    env = ActivityEnvironment()
    session = await env.run(activities.create_checkout, checkout())
    assert (await env.run(activities.get_checkout, GetCheckoutInput(session_id=session.session_id))).status == "open"
    await complete_sandbox_checkout(services.providers.payments, session.session_id)
    paid = await env.run(activities.get_checkout, GetCheckoutInput(session_id=session.session_id))
    assert (paid.status, paid.payment_status) == ("complete", "paid")
