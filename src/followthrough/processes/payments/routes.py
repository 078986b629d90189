"""``POST /api/payments`` starts a payment; ``GET /api/payments/{id}`` shows where it stands.

With ``USE_TEMPORAL_PAYMENTS`` off the route creates the checkout, records it and sends the
link inline (``"mode": "inline"``); no reminders and no expiry follow, as in the seed's legacy
path. Completion then arrives through the Stripe webhook, which can call
:func:`complete_inline` (see there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun, inline_activity, integrations_on
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.leads.models import SetStageInput
from followthrough.processes.payments.rules import (
    MarkPaymentInput,
    PaymentInput,
    PaymentStatus,
    checkout_request,
    payment_message,
    payment_workflow_id,
    record_checkout_request,
)
from followthrough.services import Services

router = APIRouter(prefix="/api/payments", tags=["sales assistant"])


def require_amount_within(amount: int | None, limit: int, loc: list[str]) -> None:
    """422 when ``amount`` (minor units) is over FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT (``limit``)."""
    if amount is not None and amount > limit:
        msg = f"Input should be less than or equal to {limit} (FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT)"
        detail = [{"loc": loc, "msg": msg, "type": "less_than_equal", "ctx": {"le": limit}}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.post(
    "",
    status_code=202,
    openapi_extra=body_example(
        {"lead": LEAD, "reference": "order-1001", "amount": 4900, "currency": "eur", "description": "Pro plan, 1 month"}
    ),
)
async def start_payment(body: PaymentInput, route: FlaggedRouteDep) -> dict[str, Any]:
    """Start ``payment-{lead}-{reference}``; a second call while it runs returns the running one."""
    require_amount_within(body.amount, route.settings.followthrough_max_payment_amount, ["body", "amount"])
    # The payment's own integration sync follows USE_TEMPORAL_INTEGRATIONS like the sync route.
    body = body.model_copy(update={"sync_integrations": body.sync_integrations and integrations_on(route.settings)})
    return await route.start(
        Feature.PAYMENTS,
        body,
        workflow_id=payment_workflow_id(body.lead.id, body.reference),
        lead_id=body.lead.id,
        inline_status=PaymentStatus(lead_id=body.lead.id, reference=body.reference),
        run_inline=lambda run: _run_inline(route.services, body, run),
        wait_inline=True,  # checkout + link take seconds: answer with the link
    )


@router.get("")
async def list_payments(page: ListPageDep, route: FlaggedRouteDep) -> dict[str, Any]:
    """The payments the key sees, newest first; ``lead_id``, ``status``, paginated."""
    return await page.list(await route.workflows(), "PaymentWorkflow")


@router.get("/{workflow_id}")
async def payment_status(workflow_id: str, route: FlaggedRouteDep) -> dict[str, Any]:
    return await route.status(workflow_id)


async def _run_inline(services: Services, input: PaymentInput, run: InlineRun) -> None:
    state = PaymentStatus.model_validate(run.status)
    try:
        checkout = await inline_activity(services, "payments.create_checkout")(checkout_request(input, run.id))
        state.session_id, state.checkout_url = checkout.session_id, checkout.url
        await inline_activity(services, "payment_records.record_checkout")(
            record_checkout_request(input, run.id, checkout)
        )
        state.state, state.deadline = "awaiting_payment", checkout.expires_at
        try:
            await inline_activity(services, "messaging.send")(payment_message(input, "link", checkout.url))
        except Exception as exc:  # best effort: the link is in the answer
            state.failed_messages.append(f"link: {type(exc).__name__}: {exc}")
    finally:
        run.status = state.model_dump(mode="json")


async def complete_inline(
    services: Services, input: PaymentInput, session_id: str, paid_at: datetime, event_id: str | None = None
) -> str | None:
    """The flag-off completion (for the Stripe webhook when no workflow waits): record the
    payment paid, move the lead to ``customer``, send the receipt. Returns the previous stage."""
    await inline_activity(services, "payment_records.mark")(
        MarkPaymentInput(session_id=session_id, state="paid", at=paid_at, event_id=event_id)
    )
    previous: str | None = await inline_activity(services, "leads.set_stage")(
        SetStageInput(lead_id=input.lead.id, stage="customer")
    )
    await inline_activity(services, "messaging.send")(payment_message(input, "receipt", None))
    return previous
