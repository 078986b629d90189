"""Integration sync: one lead event pushed to every target, each on its own.

Targets: ``hubspot`` (upsert the contact), ``meta_capi`` (the Conversions API event that matches
the lead event) and ``memory`` (the lead's conversation summary, written by the llm provider and saved on the
lead's record).
One target failing never blocks the others; the result reports each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from followthrough.bounds import INT64_MAX, Instant
from followthrough.leads.models import ConversationMessage, Lead, LeadStage, SaveMemoryInput
from followthrough.providers.contracts.conversions import SendEventInput, SendEventResult
from followthrough.providers.contracts.crm import UpsertContactInput, UpsertContactResult
from followthrough.providers.contracts.llm import CompleteInput, CompleteResult

LeadEvent = Literal["lead_created", "demo_scheduled", "payment_completed"]
ConversionEvent = Literal["Lead", "Schedule", "Purchase"]
SyncTarget = Literal["hubspot", "meta_capi", "memory"]
ALL_TARGETS: tuple[SyncTarget, ...] = ("hubspot", "meta_capi", "memory")

#: HubSpot's lifecycle stage (internal name) each event implies.
LIFECYCLE_FOR: dict[str, str] = {
    "lead_created": "lead",
    "demo_scheduled": "salesqualifiedlead",
    "payment_completed": "customer",
}
#: The Meta standard event each lead event reports.
CONVERSION_FOR: dict[str, ConversionEvent] = {
    "lead_created": "Lead",
    "demo_scheduled": "Schedule",
    "payment_completed": "Purchase",
}
#: The lead's funnel stage each event implies, written to the CRM.
STAGE_FOR: dict[str, LeadStage] = {
    "lead_created": "new",
    "demo_scheduled": "demo_scheduled",
    "payment_completed": "customer",
}


class IntegrationSyncInput(BaseModel):
    lead: Lead
    event: LeadEvent
    event_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$", description="dedup key")
    occurred_at: Instant
    company: str | None = Field(default=None, max_length=200)
    value: int | None = Field(
        default=None,
        ge=0,
        le=INT64_MAX,
        description="minor units; Purchase events; routes: ≤ FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT",
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    targets: list[SyncTarget] = Field(
        default_factory=lambda: list(ALL_TARGETS), min_length=1, max_length=len(ALL_TARGETS)
    )

    @model_validator(mode="after")
    def _purchase_has_value(self) -> IntegrationSyncInput:
        if self.event == "payment_completed" and (self.value is None or self.currency is None):
            raise ValueError("payment_completed needs value and currency")
        return self


class TargetResult(BaseModel):
    target: SyncTarget
    ok: bool
    detail: str | None = Field(default=None, description="the error, or what was written")
    external_id: str | None = Field(default=None, description="HubSpot contact id / Meta trace id")


class IntegrationSyncResult(BaseModel):
    """The result, and the ``status`` query's answer while targets are still running."""

    lead_id: str
    event: LeadEvent
    targets: list[TargetResult] = Field(default_factory=list)
    pending: list[SyncTarget] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.targets)


def integration_workflow_id(lead_id: str, event: str, event_id: str) -> str:
    return f"integration-{lead_id}-{event}-{event_id}"


def sync_key(lead_id: str, target: str, event: str, event_id: str) -> str:
    return f"sync:{lead_id}:{target}:{event}:{event_id}"


MEMORY_SYSTEM = (
    "You keep a sales assistant's memory of one lead. Summarise what the lead needs, objections, "
    "commitments and next steps in at most 8 short bullet points, in the lead's language. "
    "Facts only, no invention; write 'no conversation yet' if there is nothing to summarise."
)


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """(first, last) for the CRM: the first word, then the rest."""
    if not name or not name.strip():
        return None, None
    first, _, last = name.strip().partition(" ")
    return first, (last.strip() or None)


def memory_prompt(lead: Lead, event: str, messages: list[ConversationMessage]) -> str:
    """The llm prompt for the memory summary, oldest message first."""
    lines = [f"[{m.at:%Y-%m-%d %H:%M}] {'lead' if m.direction == 'inbound' else 'us'}: {m.text}" for m in messages]
    return f"Lead language: {lead.language}. Latest event: {event}.\nConversation ({len(messages)} messages):\n" + (
        "\n".join(lines) if lines else "(none)"
    )


# --- the requests each target sends (shared by the workflow and the inline route) ---------
def hubspot_request(input: IntegrationSyncInput) -> UpsertContactInput:
    first, last = split_name(input.lead.name)
    return UpsertContactInput(
        email=input.lead.email,
        phone=input.lead.phone,
        first_name=first,
        last_name=last,
        company=input.company,
        lifecycle_stage=LIFECYCLE_FOR[input.event],
        idempotency_key=sync_key(input.lead.id, "hubspot", input.event, input.event_id),
    )


def capi_request(input: IntegrationSyncInput) -> SendEventInput:
    event_name = CONVERSION_FOR[input.event]
    purchase = event_name == "Purchase"
    return SendEventInput(
        event_name=event_name,
        event_time=input.occurred_at,
        email=input.lead.email,
        phone=input.lead.phone,
        external_id=input.lead.id,
        value=input.value if purchase else None,
        currency=input.currency if purchase else None,
        action_source="chat",
        idempotency_key=sync_key(input.lead.id, "meta_capi", input.event, input.event_id),
    )


def memory_request(input: IntegrationSyncInput, messages: list[ConversationMessage]) -> CompleteInput:
    return CompleteInput(
        system=MEMORY_SYSTEM,
        prompt=memory_prompt(input.lead, input.event, messages),
        idempotency_key=sync_key(input.lead.id, "memory", input.event, input.event_id),
    )


def memory_save_request(input: IntegrationSyncInput, completion: CompleteResult, at: datetime) -> SaveMemoryInput:
    """What ``leads.save_memory`` stores: the llm's summary, as of ``at`` (the sync's instant)."""
    return SaveMemoryInput(lead_id=input.lead.id, summary=completion.text.strip(), updated_at=at)


def memory_result(saved: SaveMemoryInput) -> TargetResult:
    return TargetResult(target="memory", ok=True, detail=saved.summary)


def hubspot_result(input: IntegrationSyncInput, contact: UpsertContactResult) -> TargetResult:
    verb = "created" if contact.created else "updated"
    detail = f"contact {verb}, lifecycle {LIFECYCLE_FOR[input.event]}"
    return TargetResult(target="hubspot", ok=True, detail=detail, external_id=contact.contact_id)


def capi_result(input: IntegrationSyncInput, sent: SendEventResult) -> TargetResult:
    event_name = CONVERSION_FOR[input.event]
    return TargetResult(
        target="meta_capi",
        ok=sent.events_received > 0,
        detail=f"{event_name} event, {sent.events_received} received",
        external_id=sent.fbtrace_id,
    )
