"""Stripe webhook: a checkout's outcome signals its ``PaymentWorkflow``.

The checkout session's metadata carries ``workflow_id``; ``checkout.session.completed`` (paid)
and ``checkout.session.async_payment_succeeded`` signal ``payment_completed``,
``checkout.session.expired`` signals ``payment_expired``. The signal is sent inline: it is one
quick call, and when Temporal is down the 503 makes Stripe redeliver later.

The signature is checked by the SDK (``stripe.Webhook.construct_event``). Stripe signs each
delivery attempt afresh, so the same ``Stripe-Signature`` again is a replay (403), while the
same event id under a new signature is Stripe's redelivery: 200 ``{"duplicate": true,
"event_id": …}``, nothing signalled twice, whichever API process took the first. Status codes
as in :mod:`followthrough.api.webhook_common`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from followthrough.api.deps import SettingsDep
from followthrough.api.webhook_common import PREFIX, Signature, digest, once, refuse_replay, signal_running, workflows
from followthrough.processes.payments.rules import PaymentCompletedSignal, PaymentExpiredSignal
from followthrough.providers.payments import stripe_timestamp, verify_stripe_signature

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

STRIPE = Signature("stripe", "Stripe-Signature", "STRIPE_WEBHOOK_SECRET", verify_stripe_signature)


@router.post("/stripe")
async def stripe_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    signed = await STRIPE.verify(request, settings.stripe_webhook_secret)
    event = signed.checked
    # What the signature covers: ``{t}.{body}``. A v1 list re-ordered still signs the same.
    covered = digest(str(stripe_timestamp(signed.signature or "")), signed.body)
    await refuse_replay(request, "stripe", covered, "Stripe-Signature")
    event_id = event.get("id")
    key = event_id if isinstance(event_id, str) else None
    return await once(request, "stripe", key, lambda: _handle(request, event), {"event_id": event_id})


async def _handle(request: Request, event: dict[str, Any]) -> dict[str, Any]:
    kind = event.get("type")
    if kind not in (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.expired",
    ):
        return {"ignored": kind}
    session = ((event.get("data") or {}).get("object")) or {}
    workflow_id = (session.get("metadata") or {}).get("workflow_id")
    if not workflow_id:
        return {"ignored": kind, "reason": "no workflow_id in the session metadata"}
    arg: PaymentCompletedSignal | PaymentExpiredSignal
    if kind == "checkout.session.expired":
        name, arg = "payment_expired", PaymentExpiredSignal(session_id=session.get("id"), event_id=event.get("id"))
    elif session.get("payment_status") not in ("paid", "no_payment_required"):
        return {"ignored": kind, "reason": f"payment_status {session.get('payment_status')}"}
    else:
        paid_at = datetime.fromtimestamp(int(event.get("created") or 0), UTC) if event.get("created") else None
        name, arg = (
            "payment_completed",
            PaymentCompletedSignal(
                session_id=str(session.get("id")), event_id=str(event.get("id")), paid_at=paid_at or datetime.now(UTC)
            ),
        )
    if not await signal_running(await workflows(request), workflow_id, name, arg):
        return {"ignored": kind, "reason": f"no running workflow {workflow_id}"}
    return {"signalled": name, "workflow_id": workflow_id}
