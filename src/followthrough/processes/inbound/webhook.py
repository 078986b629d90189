"""WhatsApp webhook: Meta's subscription handshake and inbound messages.

Answers fast, always (Meta retries a webhook that takes more than a few seconds): the route
checks the signature, records each message (idempotent on the WhatsApp message id; an opt-out
is written in the same transaction), starts one ``InboundMessageWorkflow``
(``inbound-{message id}``) per new message, and answers. What the message means for the lead's
follow-ups and outreach campaigns runs durably in that workflow. If Temporal cannot take the
start within :data:`DISPATCH_BUDGET_SECONDS` the answer is 503 and Meta redelivers; the
redelivery finds the message recorded but no workflow for it, and starts it then. With
The answer waits for one store transaction (SQLite writers take turns,
:meth:`~followthrough.store.Database.write_turn`) and one start; the owner of a lead whose record
names none costs a visibility query, unless this very message created the lead. With
``USE_TEMPORAL_FOLLOWUPS`` off, the old path stays: signals in a background task after the
answer, best effort. Status codes as in :mod:`followthrough.api.webhook_common`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import PlainTextResponse

from followthrough.api.deps import SettingsDep
from followthrough.api.flags import Feature, get_inline_runs, integrations_on, use_temporal
from followthrough.api.webhook_common import (
    PREFIX,
    Signature,
    configured_secret,
    parse_json,
    signal_followups,
    workflows,
)
from followthrough.config import DEFAULT_ORGANIZATION
from followthrough.leads.models import Lead as LeadModel
from followthrough.leads.models import LeadRepliedSignal
from followthrough.processes.followups.rules import (
    FollowUpInput,
    OptedOutSignal,
    followup_workflow_id,
)
from followthrough.processes.inbound.intents import Intent, classify
from followthrough.processes.inbound.rules import InboundMessageInput, inbound_workflow_id
from followthrough.providers.messaging import verify_whatsapp_signature, verify_whatsapp_subscription
from followthrough.providers.signatures import InvalidSignature
from followthrough.services import Services
from followthrough.store.models import Lead
from followthrough.store.repositories.leads import Leads
from followthrough.temporal.operations import WorkflowNotFound, Workflows
from followthrough.temporal.tenancy import lead_owner

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

WHATSAPP = Signature("whatsapp", "X-Hub-Signature-256", "WHATSAPP_APP_SECRET", verify_whatsapp_signature)

#: How long the WhatsApp webhook may spend starting workflows before it answers 503 (Meta
#: gives a webhook about 5 s; the store write and one start take milliseconds when healthy).
DISPATCH_BUDGET_SECONDS = 3.0
#: A redelivered message whose workflow Temporal does not know is started if it is at most this
#: old. Keep it within the namespace's retention (24 h or more), so a finished workflow of the
#: message is still found and not run twice.
REDISPATCH_WINDOW = timedelta(hours=24)


@router.get("/whatsapp", response_class=PlainTextResponse)
async def whatsapp_verify(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Meta's subscription handshake: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    token = configured_secret(settings.whatsapp_verify_token, "WHATSAPP_VERIFY_TOKEN")
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


@router.post("/whatsapp")
async def whatsapp_inbound(request: Request, settings: SettingsDep) -> dict[str, Any]:
    signed = await WHATSAPP.verify(request, settings.whatsapp_app_secret)
    try:
        messages = parse_whatsapp(parse_json(signed.body))
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
    #: This message created the lead's record.
    new_lead: bool = False
    #: The lead's organization, the owner of what the message starts (None: the operator's own).
    organization: str | None = None


async def record_inbound(services: Services, message: InboundText) -> Recorded:
    """Store the message (and the lead, if new; the opt-out, if it is one) in one transaction."""
    intent = classify(message.text)
    recorded = await Leads(services.database).record_message_from(
        message.phone,
        name=message.name,
        provider_message_id=message.message_id,
        text=message.text,
        received_at=message.received_at,
        opt_out=intent is Intent.OPT_OUT,
    )
    lead = recorded.lead
    return Recorded(
        message,
        _lead_model(lead, message.phone),
        intent,
        fresh=recorded.fresh,
        new_lead=recorded.new_lead,
        organization=lead.organization_id,
    )


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
            wf = await workflows(request)
            sync = integrations_on(request.app.state.settings)
            for r in recorded:
                await start_inbound(wf, r, sync_integrations=sync)
    except Exception as exc:
        log.exception("inbound messages recorded but not handed to Temporal; asking Meta to redeliver")
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"recorded, not yet processed ({type(exc).__name__}); redeliver"
        ) from None


async def start_inbound(wf: Workflows, recorded: Recorded, *, sync_integrations: bool = True) -> str | None:
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
    owner = await message_owner(wf, recorded)
    await wf.start(
        "InboundMessageWorkflow",
        InboundMessageInput(
            message_id=recorded.message.message_id,
            lead=recorded.lead,
            intent=recorded.intent.value,  # type: ignore[arg-type]
            received_at=recorded.message.received_at,
            new_lead=recorded.new_lead,
            sync_integrations=sync_integrations,
        ),
        workflow_id=workflow_id,
        search_attributes={"LeadId": recorded.lead.id, "OrganizationId": owner},
    )
    return workflow_id


async def message_owner(wf: Workflows, recorded: Recorded) -> str:
    """The organization that owns what the message starts: the lead record's; else the owner of
    the lead's latest execution (a visibility query, asked afresh each time: an answer kept for
    later could hand the lead's message to an organization that no longer runs its processes);
    else the operator's. A lead this very message created has no execution yet: no query."""
    if recorded.organization is not None:
        return recorded.organization
    if recorded.fresh and recorded.new_lead:
        return DEFAULT_ORGANIZATION
    return await lead_owner(wf, recorded.lead.id) or DEFAULT_ORGANIZATION


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
        wf = await workflows(request)
    except Exception:
        log.exception("inbound messages recorded but Temporal is unreachable; follow-ups not signalled")
        return
    for r in fresh:
        try:
            await handle_intent(wf, r)
        except Exception:
            log.exception("inbound message %s: follow-up handling failed", r.message.message_id)


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
            search_attributes={"LeadId": lead.id, "OrganizationId": recorded.organization or DEFAULT_ORGANIZATION},
            rerun_closed=True,  # a new "later" after the last one's reminder is a new reminder
        )
        return intent
    await signal_followups(wf, lead.id, "lead_replied", replied)
    return intent
