"""An inbound message's consequences: the input of ``InboundMessageWorkflow`` and the pure rule
that says which workflows hear about it.

The webhook classifies the text (:mod:`followthrough.processes.inbound.intents`) and starts the
workflow (``inbound-{provider message id}``, so a redelivery cannot start a twin); its first
activity records the message (:class:`RecordInbound`), then it tells the lead's other workflows:

==============  ===========================================  ====================================
intent          the lead's follow-ups                        the lead's outreach campaigns
==============  ===========================================  ====================================
``reply``       ``lead_replied`` to every type               ``lead_replied`` (→ ``goal_reached``)
``said_later``  ``lead_replied`` to all but ``said_later``;  ``lead_replied``
                ``said_later`` started (once: by its id)
``opt_out``     ``opted_out`` to every type                  ``stop`` (cancel the action under way)
==============  ===========================================  ====================================

Follow-ups are found by their deterministic ids (``followup-{lead}-{type}``; a signal to one
that is not running is a no-op). A local activity sends those signals through the client
(``inbound.signal_followups``): an id with no running follow-up, the common case, costs the server
one read that answers "not found", where a signal from the workflow cost a transfer task and two
history events each. Outreach workflows (``campaign-{campaign}-lead-{lead}``) are
found by visibility on ``LeadId``: the sales lead's id, and the ids of campaign leads with the
same phone (a campaign's ``send_whatsapp`` writes to the campaign lead's phone, and the reply
comes back from it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from followthrough.bounds import Instant
from followthrough.leads.models import E164_PATTERN, Lead
from followthrough.processes.followups.rules import FOLLOWUP_TYPES, followup_workflow_id

InboundIntent = Literal["reply", "said_later", "opt_out"]
FollowUpSignalName = Literal["lead_replied", "opted_out"]
OutreachSignalName = Literal["lead_replied", "stop"]

#: Visibility's ``LeadId IN (…)`` gets long with many campaign leads; query in chunks of this many.
LEAD_IDS_PER_QUERY = 50
#: The longest text an inbound message carries into the workflow (WhatsApp's own limit is 4,096).
MAX_TEXT = 8192


def inbound_workflow_id(provider_message_id: str) -> str:
    """``inbound-{SHA-256 of the provider's message id}``: a redelivery reaches the same id.

    Hashed because a WhatsApp message id is not opaque: ``wamid.HBgL…`` is base64 that spells
    the sender's phone number. Its other part is per-message and unguessable, so no key is
    needed to keep the phone from being recovered from the digest.
    """
    return f"inbound-{hashlib.sha256(provider_message_id.encode()).hexdigest()[:32]}"


class InboundMessageInput(BaseModel):
    """One new inbound message, classified by the webhook.

    The webhook gives the sender (``phone``, ``name``, ``text``): the workflow's first activity
    records the message and finds or creates its lead. A caller that recorded the message itself
    gives the ``lead`` (and ``new_lead``) instead, and nothing is recorded again.
    """

    message_id: str = Field(min_length=1, max_length=255, description="the provider's message id")
    intent: InboundIntent
    received_at: Instant
    channel: Literal["whatsapp"] = "whatsapp"
    phone: str | None = Field(default=None, pattern=E164_PATTERN, description="the sender, E.164")
    name: str | None = Field(default=None, max_length=200, description="the sender's profile name")
    text: str | None = Field(default=None, max_length=MAX_TEXT, description="what the message says")
    lead: Lead | None = Field(default=None, description="the lead, when the caller recorded the message")
    new_lead: bool = Field(default=False, description="with ``lead``: this message created the lead's record")
    sync_integrations: bool = Field(
        default=True, description="a new lead goes to HubSpot, Meta (Lead) and memory (IntegrationSync)"
    )

    @field_validator("received_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _sender_or_lead(self) -> InboundMessageInput:
        if (self.lead is None) == (self.phone is None):
            raise ValueError("give the sender's phone (the workflow records the message) or its recorded lead")
        return self


class RecordInbound(BaseModel):
    """The input of ``inbound.record``: store the message, its lead, and an opt-out."""

    message_id: str
    phone: str
    name: str | None = None
    text: str | None = None
    received_at: Instant
    opt_out: bool = False


class InboundRecorded(BaseModel):
    """What ``inbound.record`` found: the message's lead and who owns what it starts."""

    lead: Lead
    new_lead: bool = Field(description="this message created the lead's record")
    organization: str = Field(description="the owner (``OrganizationId``) of what the message starts")
    stale: bool = Field(
        default=False,
        description="recorded long ago by an earlier delivery whose workflow has closed: nothing to do again",
    )


class SignalFollowups(BaseModel):
    """The input of ``inbound.signal_followups``: tell the lead's follow-ups, by their ids."""

    workflow_ids: list[str] = Field(max_length=len(FOLLOWUP_TYPES))
    signal: FollowUpSignalName
    message_id: str
    received_at: Instant
    reason: str = Field(default="", description="an opt-out's reason")


class FollowupsSignalled(BaseModel):
    workflow_ids: list[str] = Field(default_factory=list, description="those that took it (the others are not running)")


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
    #: True: a redelivery of a message handled long ago (see ``InboundRecorded.stale``): nothing was done.
    stale: bool = False


class InboundPlan(BaseModel):
    followup_signal: FollowUpSignalName
    followup_ids: list[str]
    start_said_later: str | None = Field(default=None, description="the said_later follow-up id to start")
    outreach_signal: OutreachSignalName


def plan(input: InboundMessageInput, lead_id: str) -> InboundPlan:
    """What the message does to the lead ``lead_id``'s workflows (the table in the module
    docstring)."""
    all_ids = [followup_workflow_id(lead_id, t) for t in FOLLOWUP_TYPES]
    if input.intent == "opt_out":
        return InboundPlan(followup_signal="opted_out", followup_ids=all_ids, outreach_signal="stop")
    if input.intent == "said_later":
        later = followup_workflow_id(lead_id, "said_later")
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
