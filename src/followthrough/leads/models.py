"""A sales lead as the sales-assistant workflows see it, and the lead-record activities' inputs.

Personal data (phone, name, email) travels inside workflow payloads, which the payload codec
encrypts; only ``id`` goes into search attributes and workflow ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from followthrough.bounds import Id, Instant

#: The languages the message templates are written in.
Language = Literal["es", "en"]

#: The lead's place in the sales funnel, as the seed's app stores it.
LeadStage = Literal["new", "contacted", "qualified", "demo_scheduled", "negotiation", "customer", "lost"]

#: E.164: a plus and 8 to 15 digits.
E164_PATTERN = r"^\+[1-9]\d{7,14}$"


class Lead(BaseModel):
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    phone: str = Field(pattern=E164_PATTERN, description="E.164, e.g. +5215512345678")
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    language: Language = "es"

    @property
    def first_name(self) -> str:
        return (self.name or "").split(" ", 1)[0]


class LeadRepliedSignal(BaseModel):
    """The lead answered: the signal ``lead_replied`` of the follow-ups and of a campaign's
    outreach. Every field is optional: WhatsApp's inbound path sends when it was received, a
    campaign's webhook which channel it came on."""

    message_id: Id | None = None
    received_at: Instant | None = None
    channel: Literal["linkedin", "whatsapp", "email", "other"] | None = None


class SetStageInput(BaseModel):
    """Move a lead to ``stage``; ``leads.set_stage`` returns the previous stage (None: no record
    yet, one is created). Any short string is accepted so a saga can restore whatever was there."""

    lead_id: str
    stage: str = Field(min_length=1, max_length=32)


class ContactStateInput(BaseModel):
    lead_id: str


class ContactState(BaseModel):
    """What a workflow must know about the lead right before it messages them."""

    lead_id: str
    known: bool = Field(description="the store has a record of this lead")
    opted_out: bool = False
    stage: str | None = None


class RecentConversationInput(BaseModel):
    lead_id: str
    limit: int = Field(default=30, ge=1, le=200)


class ConversationMessage(BaseModel):
    direction: Literal["inbound", "outbound"]
    text: str
    at: datetime


class RecentConversation(BaseModel):
    lead_id: str
    messages: list[ConversationMessage] = Field(default_factory=list)


class SaveMemoryInput(BaseModel):
    """The lead's memory summary as of ``updated_at``; ``leads.save_memory`` keeps the newest."""

    lead_id: str
    summary: str
    updated_at: AwareDatetime
