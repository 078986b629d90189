"""Provider webhooks: WhatsApp (inbound messages), Stripe (checkout outcome), Cal.com (booking changes).

Public routes: each checks its provider's signature over the raw body instead of the API key.
A missing signature is 401, a wrong or stale one 403, a body that is not the provider's JSON
400, an event this service does not use 200 ``{"ignored": …}``; never a 500.

WhatsApp answers fast, always (Meta retries a webhook that takes more than a few seconds): the
route checks the signature, records each message (idempotent on the WhatsApp message id; an
opt-out is written in the same transaction), starts one ``InboundMessageWorkflow``
(``inbound-{message id}``) per new message, and answers. What the message means for the lead's
follow-ups and outreach campaigns runs durably in that workflow. If Temporal cannot take the
start within :data:`DISPATCH_BUDGET_SECONDS` the answer is 503 and Meta redelivers; the
redelivery finds the message recorded but no workflow for it, and starts it then. With
``USE_TEMPORAL_FOLLOWUPS`` off, the old path stays: signals in a background task after the
answer, best effort. Stripe and Cal.com signal inline: a signal is one quick call, and when
Temporal is down the 503 makes the provider redeliver later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from followthrough.api.deps import SettingsDep, get_workflows
from followthrough.api.flags import Feature, get_inline_runs, use_temporal
from followthrough.domain.booking import DEMO_FOLLOWUP_TYPES
from followthrough.domain.followup import (
    FOLLOWUP_TYPES,
    DemoChangedSignal,
    FollowUpInput,
    LeadRepliedSignal,
    OptedOutSignal,
    followup_workflow_id,
)
from followthrough.domain.inbound import InboundMessageInput, inbound_workflow_id
from followthrough.domain.intents import Intent, classify
from followthrough.domain.leads import Lead as LeadModel
from followthrough.domain.payment import PaymentCompletedSignal, PaymentExpiredSignal
from followthrough.providers.calendar import verify_calcom_signature
from followthrough.providers.messaging import verify_whatsapp_signature, verify_whatsapp_subscription
from followthrough.providers.payments import verify_stripe_signature
from followthrough.providers.signatures import InvalidSignature, ReplayCache
from followthrough.services import Services
from followthrough.store.models import InboundMessage, Lead
from followthrough.store.types import new_id
from followthrough.temporal.operations import WorkflowNotFound, Workflows

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhook", tags=["webhooks"])
PUBLIC = True

#: How long the WhatsApp webhook may spend starting workflows before it answers 503 (Meta
#: gives a webhook about 5 s; the store write and one start take milliseconds when healthy).
DISPATCH_BUDGET_SECONDS = 3.0
#: A redelivered message whose workflow Temporal does not know is started if it is at most this
#: old. Keep it within the namespace's retention (24 h or more), so a finished workflow of the
#: message is still found and not run twice.
REDISPATCH_WINDOW = timedelta(hours=24)


# --- WhatsApp -----------------------------------------------------------------------------
@router.get("/whatsapp", response_class=PlainTextResponse)
async def whatsapp_verify(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Meta's subscription handshake: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    token = _secret(settings.whatsapp_verify_token, "WHATSAPP_VERIFY_TOKEN")
    try:
        return PlainTextResponse(verify_whatsapp_subscription(request.query_params, token))
    except InvalidSignature as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"verification failed: {exc}") from None


@dataclass(frozen=True)
class InboundText:
    message_id: str
    phone: str  # E.164
    text: str
    received_at: datetime
    name: str | None = None


#: Meta's ``from``: an E.164 number without its plus (others are skipped, never a 500).
_E164_DIGITS = re.compile(r"[1-9]\d{7,14}")


def parse_whatsapp(payload: Any) -> list[InboundText]:
    """The messages of a WhatsApp Cloud API webhook (statuses and other changes are skipped)."""
    found: list[InboundText] = []
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
            for msg in value.get("messages") or []:
                sender = str(msg.get("from") or "")
                if not msg.get("id") or not _E164_DIGITS.fullmatch(sender):
                    continue
                kind = msg.get("type")
                if kind == "text":
                    text = (msg.get("text") or {}).get("body") or ""
                elif kind == "button":
                    text = (msg.get("button") or {}).get("text") or ""
                elif kind == "interactive":
                    inter = msg.get("interactive") or {}
                    text = (inter.get("button_reply") or inter.get("list_reply") or {}).get("title") or ""
                else:
                    text = ""
                try:
                    at = datetime.fromtimestamp(int(msg.get("timestamp")), UTC)
                except (TypeError, ValueError):
                    at = datetime.now(UTC)
                found.append(InboundText(str(msg["id"]), f"+{sender}", text, at, names.get(sender)))
    return found


def _secret(value: SecretStr | None, variable: str) -> str:
    if value is None:
        # Unconfigured is refused, never accepted unsigned.
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"webhook refused: {variable} is not configured")
    return value.get_secret_value()


def _replays(request: Request) -> ReplayCache:
    """Deliveries already accepted by this process (Stripe event ids, Cal.com signatures)."""
    cache: ReplayCache | None = getattr(request.app.state, "webhook_replays", None)
    if cache is None:
        cache = request.app.state.webhook_replays = ReplayCache()
    return cache


def _refuse(header: str, exc: InvalidSignature, given: str | None) -> HTTPException:
    """401 when the signature is missing, 403 when it is forged, malformed or stale."""
    code = status.HTTP_401_UNAUTHORIZED if not given else status.HTTP_403_FORBIDDEN
    return HTTPException(code, f"{header} refused: {exc}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from None


@router.post("/whatsapp")
async def whatsapp_inbound(request: Request, settings: SettingsDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("X-Hub-Signature-256")
    try:
        verify_whatsapp_signature(body, signature, _secret(settings.whatsapp_app_secret, "WHATSAPP_APP_SECRET"))
    except InvalidSignature as exc:
        raise _refuse("X-Hub-Signature-256", exc, signature) from None
    try:
        messages = parse_whatsapp(_json(body))
    except (ValueError, TypeError, AttributeError) as exc:  # signed, but not the shape Meta sends
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not a WhatsApp webhook body: {exc}") from None
    services: Services = request.app.state.services
    recorded = [await record_inbound(services, message) for message in messages]
    fresh = [r for r in recorded if r.fresh]
    inline = get_inline_runs(request)  # follow-ups running inline (USE_TEMPORAL_FOLLOWUPS off)
    for r in fresh:
        inline.cancel_for_lead(r.lead.id)
    if use_temporal(settings, Feature.FOLLOWUPS):
        await _dispatch(request, recorded)
    elif fresh:
        _background(request, _process_inbound(request, fresh))
    return {"received": len(messages), "new": len(fresh)}


@dataclass(frozen=True)
class Recorded:
    """An inbound message as the store holds it: its lead, what it means, and whether this
    delivery is the first (False: Meta redelivered a message recorded before)."""

    message: InboundText
    lead: LeadModel
    intent: Intent
    fresh: bool


async def record_inbound(services: Services, message: InboundText) -> Recorded:
    """Store the message (and the lead, if new; the opt-out, if it is one) in one transaction."""
    intent = classify(message.text)
    for _ in range(2):  # a second try when a concurrent first message created the lead
        try:
            return Recorded(message, await _insert_inbound(services, message, intent), intent, fresh=True)
        except IntegrityError:
            async with services.database.session() as session:
                seen = await session.scalar(
                    select(InboundMessage).where(InboundMessage.provider_message_id == message.message_id)
                )
                lead = await session.get(Lead, seen.lead_id) if seen is not None else None
            if seen is not None and lead is not None:
                return Recorded(message, _lead_model(lead, message.phone), intent, fresh=False)
    raise RuntimeError(f"could not record inbound message {message.message_id}")


async def _insert_inbound(services: Services, message: InboundText, intent: Intent) -> LeadModel:
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead).where(Lead.phone == message.phone))
        if lead is None:
            lead = Lead(id=new_id(), phone=message.phone, name=message.name, stage="new")
            session.add(lead)
            await session.flush()
        lead.last_inbound_at = message.received_at
        if intent is Intent.OPT_OUT and not lead.opted_out:
            # With the message, in the same transaction: a recorded STOP is always an opted-out
            # lead, whatever happens to Temporal afterwards (follow-ups read it before each send).
            lead.opted_out, lead.opted_out_at = True, message.received_at
        session.add(
            InboundMessage(
                lead_id=lead.id,
                provider_message_id=message.message_id,
                text=message.text,
                received_at=message.received_at,
            )
        )
        await session.flush()
        return _lead_model(lead, message.phone)


def _lead_model(lead: Lead, phone: str) -> LeadModel:
    return LeadModel(
        id=lead.id,
        phone=lead.phone or phone,
        name=lead.name,
        email=lead.email,
        language="en" if lead.language == "en" else "es",
    )


async def _dispatch(request: Request, recorded: list[Recorded]) -> None:
    """Hand each recorded message to an ``InboundMessageWorkflow`` before answering.

    When Temporal cannot take it in time the answer is 503, so Meta delivers again; the
    redelivery finds the message recorded and no workflow for it, and hands it over then.
    """
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS):
            wf = await get_workflows(request, await _client(request))
            for r in recorded:
                await start_inbound(wf, r)
    except Exception as exc:
        log.exception("inbound messages recorded but not handed to Temporal; asking Meta to redeliver")
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"recorded, not yet processed ({type(exc).__name__}); redeliver"
        ) from None


async def start_inbound(wf: Workflows, recorded: Recorded) -> str | None:
    """Start the message's workflow; returns its id, or None when there is nothing to start.

    A redelivered message is started only if Temporal has no workflow for it (the first
    delivery was recorded, then the process died or Temporal refused the start) and it is
    recent enough that a closed workflow of it would still be known: within the namespace's
    retention, ``describe`` finds a finished one, so nothing runs twice.
    """
    workflow_id = inbound_workflow_id(recorded.message.message_id)
    if not recorded.fresh:
        if datetime.now(UTC) - recorded.message.received_at > REDISPATCH_WINDOW:
            return None
        try:
            await wf.describe(workflow_id)
            return None  # an earlier delivery handed it over
        except WorkflowNotFound:
            pass
    await wf.start(
        "InboundMessageWorkflow",
        InboundMessageInput(
            message_id=recorded.message.message_id,
            lead=recorded.lead,
            intent=recorded.intent.value,  # type: ignore[arg-type]
            received_at=recorded.message.received_at,
        ),
        workflow_id=workflow_id,
        search_attributes={"LeadId": recorded.lead.id},
    )
    return workflow_id


def _background(request: Request, coro: Any) -> None:
    """Run ``coro`` after the answer, keeping a reference so it is not collected mid-way."""
    tasks: set[asyncio.Task[Any]] | None = getattr(request.app.state, "webhook_tasks", None)
    if tasks is None:
        tasks = request.app.state.webhook_tasks = set()
    task = asyncio.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def pending_tasks(app: Any) -> set[asyncio.Task[Any]]:
    """The webhook's background tasks still running (tests and shutdown await them)."""
    return set(getattr(app.state, "webhook_tasks", None) or ())


async def _process_inbound(request: Request, fresh: list[Recorded]) -> None:
    """The inline path (``USE_TEMPORAL_FOLLOWUPS`` off): best effort, after the answer, lost
    if the process dies; follow-ups already running in Temporal still hear of the message."""
    try:
        wf = await get_workflows(request, await _client(request))
    except Exception:
        log.exception("inbound messages recorded but Temporal is unreachable; follow-ups not signalled")
        return
    for r in fresh:
        try:
            await handle_intent(wf, r)
        except Exception:
            log.exception("inbound message %s: follow-up handling failed", r.message.message_id)


async def _client(request: Request) -> Any:
    from followthrough.api.deps import get_client

    return await get_client(request)


async def handle_intent(wf: Workflows, recorded: Recorded) -> Intent:
    """What one new inbound message does to the lead's follow-ups (inline path; the opt-out
    itself is already in the store, written with the message)."""
    message, lead, intent = recorded.message, recorded.lead, recorded.intent
    if intent is Intent.OPT_OUT:
        await signal_followups(wf, lead.id, "opted_out", OptedOutSignal(reason=f"inbound: {message.text[:50]}"))
        return intent
    replied = LeadRepliedSignal(message_id=message.message_id, received_at=message.received_at)
    if intent is Intent.SAID_LATER:
        # The reply stops the other follow-ups; a said_later already running keeps its timer.
        await signal_followups(wf, lead.id, "lead_replied", replied, skip={followup_workflow_id(lead.id, "said_later")})
        await wf.start(
            "FollowUpWorkflow",
            FollowUpInput(lead=lead, type="said_later", triggered_at=message.received_at),
            workflow_id=followup_workflow_id(lead.id, "said_later"),
            search_attributes={"LeadId": lead.id},
        )
        return intent
    await signal_followups(wf, lead.id, "lead_replied", replied)
    return intent


async def running_followups(wf: Workflows, lead_id: str, types: Iterable[str] = FOLLOWUP_TYPES) -> set[str]:
    """The lead's follow-up ids: the deterministic ones, plus any visibility finds running."""
    wanted = set(types)
    ids = {followup_workflow_id(lead_id, t) for t in wanted}
    query = f'LeadId="{lead_id}" AND WorkflowType="FollowUpWorkflow" AND ExecutionStatus="Running"'
    try:
        found, _ = await wf.list(query, page_size=100)
        ids |= {e.workflow_id for e in found if wanted == set(FOLLOWUP_TYPES) or e.workflow_id in ids}
    except Exception:  # visibility is an extra; the time-skipping server does not serve it
        log.debug("visibility query failed; signalling the deterministic follow-up ids only")
    return ids


async def signal_followups(
    wf: Workflows,
    lead_id: str,
    name: str,
    arg: Any,
    *,
    types: Iterable[str] = FOLLOWUP_TYPES,
    skip: set[str] | None = None,
) -> list[str]:
    """Signal every running follow-up of the lead; returns the ids that took the signal."""
    ids = sorted((await running_followups(wf, lead_id, types)) - (skip or set()))

    async def one(workflow_id: str) -> str | None:
        try:
            await wf.signal(workflow_id, name, arg)
            return workflow_id
        except WorkflowNotFound:
            return None  # never started, or already closed

    return [i for i in await asyncio.gather(*(one(i) for i in ids)) if i is not None]


# --- Stripe -------------------------------------------------------------------------------
@router.post("/stripe")
async def stripe_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("Stripe-Signature")
    secret = _secret(settings.stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET")
    try:
        event = verify_stripe_signature(body, signature, secret, seen=_replays(request))
    except InvalidSignature as exc:
        raise _refuse("Stripe-Signature", exc, signature) from None
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
    wf = await get_workflows(request, await _client(request))
    try:
        await wf.signal(workflow_id, name, arg)
    except WorkflowNotFound:
        return {"ignored": kind, "reason": f"no running workflow {workflow_id}"}
    return {"signalled": name, "workflow_id": workflow_id}


# --- Cal.com ------------------------------------------------------------------------------
def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/calcom")
async def calcom_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("X-Cal-Signature-256")
    secret = _secret(settings.calcom_webhook_secret, "CALCOM_WEBHOOK_SECRET")
    try:
        event = verify_calcom_signature(body, signature, secret, seen=_replays(request))
    except InvalidSignature as exc:
        raise _refuse("X-Cal-Signature-256", exc, signature) from None
    kind = event.get("triggerEvent")
    if kind not in ("BOOKING_RESCHEDULED", "BOOKING_CANCELLED"):
        return {"ignored": kind}
    payload = event.get("payload") or {}
    lead_id = (payload.get("metadata") or {}).get("lead_id")
    if not lead_id:
        return {"ignored": kind, "reason": "no lead_id in the booking metadata"}
    try:
        change = (
            DemoChangedSignal(cancelled=True)
            if kind == "BOOKING_CANCELLED"
            else DemoChangedSignal(
                demo_start=_instant(payload.get("startTime")), demo_end=_instant(payload.get("endTime"))
            )
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unusable booking times: {exc}") from None
    wf = await get_workflows(request, await _client(request))
    signalled = await signal_followups(wf, str(lead_id), "demo_changed", change, types=DEMO_FOLLOWUP_TYPES)
    return {"signalled": "demo_changed", "workflows": signalled}
