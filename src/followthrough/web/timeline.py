"""A lead's timeline: every step it went through across processes, newest first.

From Temporal (the organization's executions tagged with the lead's ``LeadId``; a follow-up's
steps from its ``status`` query) and from the store (campaign actions with the instant their
side effect was recorded, inbound messages, bookings, payments). Each event links to its
execution in the Temporal Web UI when it has one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from followthrough.api.deps import workflows_for
from followthrough.api.listing import SAFE_VALUE
from followthrough.config import Settings
from followthrough.processes.campaigns.steps import idempotency_key
from followthrough.store.repositories.history import LeadHistories
from followthrough.temporal.operations import ExecutionInfo, Workflows
from followthrough.web.pages import not_found, render, temporal_link
from followthrough.web.session import SessionDep

router = APIRouter()

#: Executions of one lead read from visibility; a follow-up's status query is bounded in time.
MAX_EXECUTIONS = 100
QUERY_TIMEOUT = 1.5


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # campaign | message | follow-up | booking | payment | execution
    title: str
    detail: str = ""
    link: str | None = None


async def _followup_events(wf: Workflows, settings: Settings, info: ExecutionInfo) -> list[Event]:
    link = temporal_link(settings, info.workflow_id, info.run_id)
    try:
        status: Any = await asyncio.wait_for(wf.query(info.workflow_id, "status", internal=True), QUERY_TIMEOUT)
    except Exception:  # no worker, or Temporal slow: the execution still shows
        return []
    status = status if isinstance(status, dict) else status.model_dump(mode="json")
    events = []
    for step in status.get("steps", []):
        state, name = step.get("state", "pending"), step.get("name", "")
        due = datetime.fromisoformat(step["due_at"])
        sent = datetime.fromisoformat(step["sent_at"]) if step.get("sent_at") else None
        title = f"Follow-up “{name}” {'scheduled' if state == 'pending' else state}"
        detail = f"{status.get('type', '')} · due {due.isoformat()}"
        if step.get("reason"):
            detail += f" · {step['reason']}"
        # the message itself is the outbox's "Message out" event
        events.append(Event(sent or due, "follow-up", title, detail, link))
    return events


async def _temporal_events(request: Request, lead_id: str) -> list[Event]:
    settings: Settings = request.app.state.settings
    try:
        wf = await workflows_for(request)
        executions, _ = await wf.list(f'LeadId = "{lead_id}"', page_size=MAX_EXECUTIONS)
    except Exception:  # Temporal down: the store's part of the timeline still shows
        return []
    events: list[Event] = []
    followups = []
    for info in executions:
        link = temporal_link(settings, info.workflow_id, info.run_id)
        if info.start_time:
            events.append(Event(info.start_time, "execution", f"{info.type} started", info.workflow_id, link))
        if info.close_time:
            closed = f"{info.type} {info.status.lower().replace('_', ' ')}"
            events.append(Event(info.close_time, "execution", closed, info.workflow_id, link))
        if info.type == "FollowUpWorkflow":
            followups.append(_followup_events(wf, settings, info))
    for found in await asyncio.gather(*followups):
        events.extend(found)
    return events


def _message_out(record: Any) -> Event:
    request = record.request or {}
    text = request.get("text") or (request.get("template") or {}).get("name") or ""
    what = "Message out" if record.status == "sent" else f"Message out ({record.status})"
    return Event(record.sent_at or record.created_at, "message", f"{what} via {record.provider}", str(text))


async def _messages_out(request: Request, lead_id: str) -> list[Event]:
    histories = LeadHistories(request.app.state.services.database)
    return [_message_out(record) for record in await histories.messages_out(lead_id)]


async def _store_events(request: Request, lead_id: str, organization: str) -> tuple[list[Event], bool]:
    """The store's events, and whether the organization owns anything of this lead there."""
    settings: Settings = request.app.state.settings
    histories = LeadHistories(request.app.state.services.database)
    history = await histories.of(lead_id, organization)
    events: list[Event] = []
    keys = {
        (run.campaign_id, step.get("node_id", "")): idempotency_key(run.campaign_id, lead_id, step.get("node_id", ""))
        for run, _ in history.executions
        for step in (run.execution_data or {}).get("steps", [])
    }
    effects = await histories.side_effects(list(keys.values()))
    for run, campaign in history.executions:
        link = temporal_link(settings, run.workflow_execution_id)
        for step in (run.execution_data or {}).get("steps", []):
            record = effects.get(keys[(run.campaign_id, step.get("node_id", ""))])
            at = (record.sent_at or record.created_at) if record else (run.completed_at or run.updated_at)
            what = step.get("action") or step.get("kind", "")
            title = f"{campaign.name}: {step.get('node_id')} ({what}) {step.get('status', 'done')}"
            events.append(Event(at, "campaign", title, step.get("error") or "", link))
        if run.started_at:
            events.append(Event(run.started_at, "campaign", f"{campaign.name}: lead started", "", link))
        if run.completed_at:
            events.append(Event(run.completed_at, "campaign", f"{campaign.name}: lead {run.status}", "", link))
    for message in history.messages:
        events.append(Event(message.received_at, "message", f"Message in via {message.channel}", message.text or ""))
    for appointment in history.appointments:
        link = temporal_link(settings, appointment.workflow_id)
        events.append(
            Event(
                appointment.created_at,
                "booking",
                f"Demo booked for {appointment.start_at:%Y-%m-%d %H:%M} UTC",
                appointment.status,
                link,
            )
        )  # noqa: E501
        if appointment.cancelled_at:
            events.append(Event(appointment.cancelled_at, "booking", "Demo cancelled", "", link))
    for payment in history.payments:
        link = temporal_link(settings, payment.workflow_id)
        amount = f"{payment.amount / 100:.2f} {payment.currency.upper()}"
        events.append(Event(payment.created_at, "payment", f"Payment of {amount} requested", payment.status, link))
        if payment.paid_at:
            events.append(Event(payment.paid_at, "payment", f"Payment of {amount} paid", "", link))
    owned = history.lead is not None or bool(history.executions)
    return events, owned


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_page(request: Request, lead_id: str, principal: SessionDep) -> Response:
    if not SAFE_VALUE.fullmatch(lead_id):
        return not_found(request, "lead")
    (stored, owned), from_temporal = await asyncio.gather(
        _store_events(request, lead_id, principal.organization or ""), _temporal_events(request, lead_id)
    )
    if not owned and not from_temporal:  # nothing of this organization's: like a missing lead
        return not_found(request, "lead")
    # Messages out are keyed by the lead's id alone: shown once the lead is known to be this
    # organization's (its record, its campaign runs or its executions).
    events = sorted([*stored, *from_temporal, *await _messages_out(request, lead_id)], key=lambda e: e.at, reverse=True)
    return render(request, "lead.html", lead_id=lead_id, events=events)
