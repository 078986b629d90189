"""The sandbox checkout page: where a sandbox payment link points (``/payments/sandbox/{id}``).

Only sandboxed payments answer here (a real Stripe session is paid on Stripe, and this page
then says 404). Paying does what Stripe's ``checkout.session.completed`` webhook does: the
``PaymentWorkflow`` named in the session's metadata gets ``payment_completed``. Public like a
checkout page is: no API key (the session id, random and unguessable, is the capability).
In production (``FOLLOWTHROUGH_ENV=production``) these routes do not exist: 404, as for any
unknown path, even where payments were explicitly sandboxed.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from followthrough.api.deps import ServicesDep, WorkflowsDep
from followthrough.errors import ValidationError
from followthrough.processes.payments.rules import PaymentCompletedSignal
from followthrough.providers.contracts.payments import GetCheckoutInput
from followthrough.providers.contracts.templates import format_amount
from followthrough.providers.payments import SandboxPayments, complete_sandbox_checkout
from followthrough.temporal.operations import WorkflowNotFound

PUBLIC = True


def _development_only(request: Request) -> None:
    if request.app.state.settings.production:
        raise HTTPException(404, "Not Found")


router = APIRouter(prefix="/payments/sandbox", tags=["sandbox"], dependencies=[Depends(_development_only)])


def _sandbox(services: ServicesDep) -> SandboxPayments:
    payments = services.providers.payments
    if not isinstance(payments, SandboxPayments):
        raise HTTPException(404, "payments are not sandboxed: checkouts are paid on Stripe")
    return payments


@router.get("/{session_id}", response_class=HTMLResponse)
async def checkout_page(session_id: str, services: ServicesDep) -> str:
    try:
        session = await _sandbox(services).get_checkout(GetCheckoutInput(session_id=session_id))
    except ValidationError as exc:
        raise HTTPException(404, exc.message) from None
    amount = format_amount(session.amount or 0, session.currency or "usd")
    action = f"/payments/sandbox/{html.escape(session_id)}/pay"
    button = (
        f'<form method="post" action="{action}"><button>Pay {amount}</button></form>'
        if session.status == "open"
        else f"<p>This checkout is {html.escape(session.status)}.</p>"
    )
    return f"<!doctype html><title>Sandbox checkout</title><h1>Sandbox checkout</h1><p>{amount}</p>{button}"


@router.post("/{session_id}/pay")
async def pay(session_id: str, services: ServicesDep, wf: WorkflowsDep) -> dict[str, Any]:
    """Pay the sandbox checkout (once; again returns the same event) and signal its workflow."""
    _sandbox(services)
    try:
        event = await complete_sandbox_checkout(services.providers.payments, session_id)
    except ValidationError as exc:
        raise HTTPException(409 if "not open" in exc.message else 404, exc.message) from None
    workflow_id = event.session.metadata.get("workflow_id")
    signalled = False
    if workflow_id:
        signal = PaymentCompletedSignal(session_id=session_id, event_id=event.event_id, paid_at=event.created_at)
        try:
            await wf.signal(workflow_id, "payment_completed", signal, internal=True)
            signalled = True
        except WorkflowNotFound:
            signalled = False  # an inline (flag-off) payment has no workflow to tell
    return {"session_id": session_id, "event_id": event.event_id, "workflow_id": workflow_id, "signalled": signalled}
