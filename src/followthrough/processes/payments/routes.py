"""``POST /api/payments`` starts a payment; ``GET /api/payments/{id}`` shows where it stands.

With ``USE_TEMPORAL_PAYMENTS`` off the route runs the workflow's first steps inline
(:func:`~followthrough.processes.payments.workflow.open_checkout`: the checkout, its record and
the link; ``"mode": "inline"``); no reminders and no expiry follow, as in the seed's legacy path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun, integrations_on
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.processes.payments.rules import PaymentInput, PaymentStatus, payment_workflow_id
from followthrough.processes.payments.workflow import open_checkout
from followthrough.services import Services
from followthrough.temporal.steps import InlineSteps, run_published

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
    """The workflow's :func:`open_checkout`, its steps awaited in this process; no reminders
    and no expiry follow."""

    async def steps(inline: InlineSteps, state: PaymentStatus) -> None:
        checkout = await open_checkout(inline, input, state)
        state.deadline = checkout.expires_at

    await run_published(services, run, PaymentStatus, steps)
