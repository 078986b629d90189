"""The Stripe client (official SDK) with its HTTP sent to a local fake via ``base_addresses``."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import respx

from followthrough.errors import ValidationError
from followthrough.providers.contracts.payments import CreateCheckoutInput, GetCheckoutInput
from followthrough.providers.payments import StripePayments

BASE = "http://stripe.fake"

SESSION = {
    "id": "cs_test_1",
    "object": "checkout.session",
    "url": "https://checkout.stripe.com/c/pay/cs_test_1",
    "status": "open",
    "payment_status": "unpaid",
    "amount_total": 4900,
    "currency": "usd",
    "expires_at": 1900000000,
    "metadata": {"workflow_id": "payment-lead-1-ref", "lead_id": "lead-1"},
}


def client() -> StripePayments:
    return StripePayments("sk_test_abc", success_url="https://ok", cancel_url="https://no", base_url=BASE)


def checkout_input() -> CreateCheckoutInput:
    return CreateCheckoutInput(
        amount=4900,
        currency="USD",
        description="Plan Pro",
        metadata={"workflow_id": "payment-lead-1-ref", "lead_id": "lead-1"},
        idempotency_key="payment:lead-1:ref:checkout",
    )


async def test_create_checkout_request() -> None:
    with respx.mock:
        route = respx.post(f"{BASE}/v1/checkout/sessions").respond(200, json=SESSION)
        session = await client().create_checkout(checkout_input())
    assert (session.session_id, session.status, session.amount) == ("cs_test_1", "open", 4900)
    assert session.metadata["workflow_id"] == "payment-lead-1-ref"
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer sk_test_abc"
    assert request.headers["Idempotency-Key"] == "payment:lead-1:ref:checkout"
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "4900"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][product_data][name]"] == "Plan Pro"
    assert form["metadata[workflow_id]"] == "payment-lead-1-ref"
    assert form["payment_intent_data[metadata][lead_id]"] == "lead-1"
    assert form["success_url"] == "https://ok"
    assert int(form["expires_at"]) > 0


async def test_get_checkout_request() -> None:
    with respx.mock:
        route = respx.get(f"{BASE}/v1/checkout/sessions/cs_test_1").respond(
            200, json={**SESSION, "status": "complete", "payment_status": "paid"}
        )
        session = await client().get_checkout(GetCheckoutInput(session_id="cs_test_1"))
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert route.calls.last.request.headers["Authorization"] == "Bearer sk_test_abc"
    assert route.calls.last.request.url.params["expand[0]"] == "payment_intent.latest_charge"
    assert session.paid_at is None  # no payment intent in the answer: the provider does not say


async def test_get_checkout_reads_paid_at_from_the_latest_charge() -> None:
    intent = {"id": "pi_1", "object": "payment_intent", "created": 1800000000}
    charge = {"id": "ch_1", "object": "charge", "created": 1800000300}
    paid = {**SESSION, "status": "complete", "payment_status": "paid"}
    with respx.mock:
        route = respx.get(f"{BASE}/v1/checkout/sessions/cs_test_1")
        read = GetCheckoutInput(session_id="cs_test_1")
        route.respond(200, json={**paid, "payment_intent": {**intent, "latest_charge": charge}})
        assert (await client().get_checkout(read)).paid_at == datetime.fromtimestamp(1800000300, UTC)
        route.respond(200, json={**paid, "payment_intent": {**intent, "latest_charge": "ch_1"}})  # not expanded
        assert (await client().get_checkout(read)).paid_at == datetime.fromtimestamp(1800000000, UTC)
        route.respond(200, json={**SESSION, "payment_intent": {**intent, "latest_charge": charge}})  # unpaid
        assert (await client().get_checkout(read)).paid_at is None


async def test_stripe_error_message_reaches_the_validation_error() -> None:
    with respx.mock:
        respx.post(f"{BASE}/v1/checkout/sessions").respond(
            400, json={"error": {"type": "invalid_request_error", "message": "Invalid currency: usx"}}
        )
        with pytest.raises(ValidationError, match="Invalid currency"):
            await client().create_checkout(checkout_input())


def test_metadata_must_name_workflow_and_lead() -> None:
    with pytest.raises(ValueError, match="workflow_id"):
        CreateCheckoutInput(amount=1, currency="usd", description="x", metadata={"lead_id": "l"}, idempotency_key="k")
