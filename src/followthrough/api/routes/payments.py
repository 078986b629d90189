"""``POST /api/payments`` starts a payment; ``GET /api/payments/{id}`` shows where it stands.

With ``USE_TEMPORAL_PAYMENTS`` off the route creates the checkout, records it and sends the
link inline (``"mode": "inline"``); no reminders and no expiry follow, as in the seed's legacy
path. Completion then arrives through the Stripe webhook, which can call
:func:`complete_inline` (see there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status

from followthrough.api.deps import ServicesDep, SettingsDep, WorkflowsDep
from followthrough.api.flags import (
    Feature,
    InlineRun,
    InlineRunsDep,
    inline_activity,
    inline_answer,
    log_inline,
    use_temporal,
    workflow_status,
)
from followthrough.domain.leads import SetStageInput
from followthrough.domain.payment import (
    MarkPaymentInput,
    PaymentInput,
    PaymentStatus,
    RecordCheckoutInput,
    checkout_request,
    payment_message,
    payment_workflow_id,
)
from followthrough.services import Services

router = APIRouter(prefix="/api/payments", tags=["sales assistant"])


@router.post("", status_code=202)
async def start_payment(
    body: PaymentInput,
    response: Response,
    settings: SettingsDep,
    services: ServicesDep,
    wf: WorkflowsDep,
    inline: InlineRunsDep,
) -> dict[str, Any]:
    """Start ``payment-{lead}-{reference}``; a second call while it runs returns the running one."""
    workflow_id = payment_workflow_id(body.lead.id, body.reference)
    if not use_temporal(settings, Feature.PAYMENTS):
        log_inline(Feature.PAYMENTS, "a payment", workflow_id=workflow_id, lead_id=body.lead.id)
        run, created = inline.start(
            workflow_id,
            Feature.PAYMENTS,
            lambda run: _run_inline(services, body, run),
            lead_id=body.lead.id,
            status=PaymentStatus(lead_id=body.lead.id, reference=body.reference).model_dump(mode="json"),
        )
        if run.task is not None:
            await run.task  # checkout + link take seconds: answer with the link
        response.status_code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return inline_answer(run, created)
    outcome = await wf.start(
        "PaymentWorkflow", body, workflow_id=workflow_id, search_attributes={"LeadId": body.lead.id}
    )
    response.status_code = status.HTTP_202_ACCEPTED if outcome.created else status.HTTP_200_OK
    return {
        "workflow_id": outcome.workflow_id,
        "run_id": outcome.run_id,
        "created": outcome.created,
        "mode": "temporal",
    }


@router.get("/{workflow_id}")
async def payment_status(workflow_id: str, wf: WorkflowsDep, inline: InlineRunsDep) -> dict[str, Any]:
    run = inline.get(workflow_id)
    if run is not None:
        return inline_answer(run, False)
    return await workflow_status(wf, workflow_id)


async def _run_inline(services: Services, input: PaymentInput, run: InlineRun) -> None:
    state = PaymentStatus.model_validate(run.status)
    try:
        checkout = await inline_activity(services, "payments.create_checkout")(checkout_request(input, run.id))
        state.session_id, state.checkout_url = checkout.session_id, checkout.url
        await inline_activity(services, "payment_records.record_checkout")(
            RecordCheckoutInput(
                lead=input.lead,
                reference=input.reference,
                workflow_id=run.id,
                session_id=checkout.session_id,
                checkout_url=checkout.url or "",
                amount=input.amount,
                currency=input.currency,
                description=input.description,
                expires_at=checkout.expires_at,
            )
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
