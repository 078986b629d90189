"""An inbound message's consequences: the input of ``InboundMessageWorkflow`` and the pure rule
that says which workflows hear about it.

The webhook classifies the text (:mod:`followthrough.processes.inbound.intents`) and records it; the
workflow (``inbound-{provider message id}``, so a redelivery cannot start a twin) then tells
the lead's other workflows, durably:

==============  ===========================================  ====================================
intent          the lead's follow-ups                        the lead's outreach campaigns
==============  ===========================================  ====================================
``reply``       ``lead_replied`` to every type               ``lead_replied`` (→ ``goal_reached``)
``said_later``  ``lead_replied`` to all but ``said_later``;  ``lead_replied``
                ``said_later`` started (once: by its id)
``opt_out``     ``opted_out`` to every type                  ``stop`` (cancel the action under way)
==============  ===========================================  ====================================

Follow-ups are found by their deterministic ids (``followup-{lead}-{type}``; a signal to one
that is not running is a no-op). Outreach workflows (``campaign-{campaign}-lead-{lead}``) are
found by visibility on ``LeadId``: the sales lead's id, and the ids of campaign leads with the
same phone (a campaign's ``send_whatsapp`` writes to the campaign lead's phone, and the reply
comes back from it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from followthrough.bounds import Instant
from followthrough.leads.models import Lead
from followthrough.processes.followups.rules import FOLLOWUP_TYPES, followup_workflow_id

InboundIntent = Literal["reply", "said_later", "opt_out"]
FollowUpSignalName = Literal["lead_replied", "opted_out"]
OutreachSignalName = Literal["lead_replied", "stop"]

#: Visibility's ``LeadId IN (…)`` gets long with many campaign leads; query in chunks of this many.
LEAD_IDS_PER_QUERY = 50


def inbound_workflow_id(provider_message_id: str) -> str:
    """``inbound-{SHA-256 of the provider's message id}``: a redelivery reaches the same id.

    Hashed because a WhatsApp message id is not opaque: ``wamid.HBgL…`` is base64 that spells
    the sender's phone number. Its other part is per-message and unguessable, so no key is
    needed to keep the phone from being recovered from the digest.
    """
    return f"inbound-{hashlib.sha256(provider_message_id.encode()).hexdigest()[:32]}"


class InboundMessageInput(BaseModel):
    """One new inbound message, already recorded and classified by the webhook."""

    message_id: str = Field(min_length=1, max_length=255, description="the provider's message id")
    lead: Lead
    intent: InboundIntent
    received_at: Instant
    channel: Literal["whatsapp"] = "whatsapp"
    new_lead: bool = Field(default=False, description="this message created the lead's record")
    sync_integrations: bool = Field(
        default=True, description="a new lead goes to HubSpot, Meta (Lead) and memory (IntegrationSync)"
    )

    @field_validator("received_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class InboundMessageResult(BaseModel):
    message_id: str
    lead_id: str
    intent: InboundIntent
    followup_signal: FollowUpSignalName
    #: Follow-ups that took the signal (the others were not running).
    followups_signalled: list[str] = Field(default_factory=list)
    outreach_signal: OutreachSignalName
    #: Outreach workflows visibility found running, and those that took the signal.
    outreach_found: list[str] = Field(default_factory=list)
    outreach_signalled: list[str] = Field(default_factory=list)
    #: The ``said_later`` follow-up's id, and whether this message started it (False: one was
    #: already running and keeps its timer).
    said_later: str | None = None
    said_later_started: bool = False
    integration_sync: str | None = Field(default=None, description="id of the lead_created sync started")


class InboundPlan(BaseModel):
    followup_signal: FollowUpSignalName
    followup_ids: list[str]
    start_said_later: str | None = Field(default=None, description="the said_later follow-up id to start")
    outreach_signal: OutreachSignalName


def plan(input: InboundMessageInput) -> InboundPlan:
    """What the message does to the lead's workflows (the table in the module docstring)."""
    all_ids = [followup_workflow_id(input.lead.id, t) for t in FOLLOWUP_TYPES]
    if input.intent == "opt_out":
        return InboundPlan(followup_signal="opted_out", followup_ids=all_ids, outreach_signal="stop")
    if input.intent == "said_later":
        later = followup_workflow_id(input.lead.id, "said_later")
        return InboundPlan(
            followup_signal="lead_replied",
            followup_ids=[i for i in all_ids if i != later],  # a running said_later keeps its timer
            start_said_later=later,
            outreach_signal="lead_replied",
        )
    return InboundPlan(followup_signal="lead_replied", followup_ids=all_ids, outreach_signal="lead_replied")


# --- finding the lead's outreach workflows ------------------------------------------------
class FindOutreachInput(BaseModel):
    lead_id: str
    phone: str | None = Field(default=None, description="E.164; campaign leads with this phone are the same person")


class OutreachFound(BaseModel):
    workflow_ids: list[str] = Field(default_factory=list)
    lead_ids: list[str] = Field(default_factory=list, description="the LeadId values searched")
    visibility: bool = Field(default=True, description="False: the server has no visibility (time-skipping)")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def outreach_queries(lead_ids: Iterable[str], *, chunk: int = LEAD_IDS_PER_QUERY) -> list[str]:
    """Visibility queries for the running ``LeadOutreachWorkflow``s of these ``LeadId``s."""
    ids = sorted({i for i in lead_ids if i})
    queries = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        lead = f"LeadId={_quoted(part[0])}" if len(part) == 1 else f"LeadId IN ({', '.join(map(_quoted, part))})"
        queries.append(f'{lead} AND WorkflowType="LeadOutreachWorkflow" AND ExecutionStatus="Running"')
    return queries
