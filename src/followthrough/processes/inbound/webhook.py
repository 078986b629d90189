"""WhatsApp webhook: Meta's subscription handshake and inbound messages.

Answers fast, always (Meta retries a webhook that takes more than a few seconds). With
``USE_TEMPORAL_FOLLOWUPS`` on (the default) the request does what a bare start of the workflow
does and nothing more: it checks the signature, parses the body and starts one
``InboundMessageWorkflow`` per message (``inbound-{message id}``; its input carries the sender
and the text), then answers. A start is durable: once answered, nothing is lost if the process
dies. The workflow's first step, a local activity, records the message, creates the lead if the
phone is new and writes an opt-out (one store transaction, idempotent on the WhatsApp message
id), before it signals anything: a follow-up checks the lead's contact state before it sends.
It then tags itself with the lead and its owner (``LeadId``, ``OrganizationId``: the lead
record's, else that of the lead's latest execution, else the operator's); until then no
organization lists it.

A redelivery reaches the same workflow id and starts nothing (the answer is 200 with
``"new": 0``); one after the namespace's retention finds the message recorded long ago and the
workflow does nothing. If Temporal cannot take a start within :data:`DISPATCH_BUDGET_SECONDS`
the answer is 503 and Meta redelivers; nothing was written, so the redelivery simply starts it.

With ``USE_TEMPORAL_FOLLOWUPS`` off, the old path stays: the route records the message and sends
the signals in a background task after the answer, best effort. Status codes as in
:mod:`followthrough.api.webhook_common`.
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
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

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
from followthrough.processes.inbound.activities import lead_model
from followthrough.processes.inbound.intents import Intent, classify
from followthrough.processes.inbound.rules import MAX_TEXT, InboundMessageInput, inbound_workflow_id
from followthrough.processes.inbound.workflow import InboundMessageWorkflow
from followthrough.providers.messaging import verify_whatsapp_signature, verify_whatsapp_subscription
from followthrough.providers.signatures import InvalidSignature
from followthrough.services import Services
from followthrough.store.repositories.leads import Leads
from followthrough.temporal.operations import DEFAULT_EXECUTION_TIMEOUT, Workflows

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

WHATSAPP = Signature("whatsapp", "X-Hub-Signature-256", "WHATSAPP_APP_SECRET", verify_whatsapp_signature)

#: How long the WhatsApp webhook may spend starting workflows before it answers 503 (Meta
#: gives a webhook about 5 s; a start takes milliseconds when healthy).
DISPATCH_BUDGET_SECONDS = 3.0


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
    if use_temporal(settings, Feature.FOLLOWUPS):
        await _cancel_inline_runs(request, services, messages)
        started = await _dispatch(request, messages)
        return {"received": len(messages), "new": started}
    recorded = [await record_inbound(services, message) for message in messages]
    fresh = [r for r in recorded if r.fresh]
    inline = get_inline_runs(request)
    for r in fresh:
        inline.cancel_for_lead(r.lead.id)
    if fresh:
        _background(request, _process_inbound(request, fresh))
    return {"received": len(messages), "new": len(fresh)}


async def _cancel_inline_runs(request: Request, services: Services, messages: list[InboundText]) -> None:
    """A message stops the sender's runs held in this process (a saga run inline because its
    ``USE_TEMPORAL_*`` flag is off): only then is the lead looked up here, a read of the store."""
    inline = get_inline_runs(request)
    if all(use_temporal(request.app.state.settings, feature) for feature in Feature) or not messages:
        return
    leads = Leads(services.database)
    for message in messages:
        lead = await leads.get_by_phone(message.phone)
        if lead is not None:
            inline.cancel_for_lead(lead.id)


async def _dispatch(request: Request, messages: list[InboundText]) -> int:
    """Start each message's ``InboundMessageWorkflow`` before answering; returns how many were
    new (a redelivery finds its workflow and starts nothing).

    When Temporal cannot take a start in time the answer is 503, so Meta delivers again; the
    redelivery starts what the first delivery could not. Nothing was written before the start,
    so there is nothing to reconcile.
    """
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS):
            wf = await workflows(request)
            sync = integrations_on(request.app.state.settings)
            return sum([await start_inbound(wf, m, sync_integrations=sync) for m in messages])
    except Exception as exc:
        log.exception("inbound messages not handed to Temporal; asking Meta to redeliver")
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"not taken by Temporal ({type(exc).__name__}); redeliver"
        ) from None


#: What an ``InboundMessageWorkflow`` carries from its start: its family. ``LeadId`` and its owner
#: ``OrganizationId`` are set by the workflow once its first activity has found them.
_FAMILY = TypedSearchAttributes(
    [SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowFamily"), InboundMessageWorkflow.FAMILY)]
)


async def start_inbound(wf: Workflows, message: InboundText, *, sync_integrations: bool = True) -> bool:
    """Start the message's workflow, ``inbound-{message id}``; False when it already exists.

    The one durable act of the request, as the raw SDK's ``start_workflow``: the id is the
    message's, and neither a running nor a closed execution of it is started again
    (``REJECT_DUPLICATE``, conflict ``FAIL``), so a redelivery within the namespace's retention
    starts nothing; one after it finds the message recorded and does nothing
    (``InboundRecorded.stale``).
    """
    intent = classify(message.text)
    try:
        await wf.client.start_workflow(
            "InboundMessageWorkflow",
            InboundMessageInput(
                message_id=message.message_id,
                intent=intent.value,  # type: ignore[arg-type]
                received_at=message.received_at,
                phone=message.phone,
                name=(message.name or None) and message.name[:200],
                text=message.text[:MAX_TEXT],
                sync_integrations=sync_integrations,
            ),
            id=inbound_workflow_id(message.message_id),
            task_queue=wf.task_queue,
            search_attributes=_FAMILY,
            execution_timeout=DEFAULT_EXECUTION_TIMEOUT,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            rpc_timeout=timedelta(seconds=DISPATCH_BUDGET_SECONDS),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


@dataclass(frozen=True)
class Recorded:
    """An inbound message as the store holds it (the inline path): its lead, what it means, and
    whether this delivery is the first (False: Meta redelivered a message recorded before)."""

    message: InboundText
    lead: LeadModel
    intent: Intent
    fresh: bool
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
        message, lead_model(lead, message.phone), intent, fresh=recorded.fresh, organization=lead.organization_id
    )


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
