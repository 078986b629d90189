"""Lead records: the funnel stage, the opt-out check before a message, the recent conversation
and the memory summary made from it.

Every write is harmless to repeat: ``set_stage`` to the same stage returns that stage as the
previous one, ``save_memory`` never lets an older summary replace a newer one, and a lead the
store has not heard of yet gets a record instead of an error (a workflow may be the first thing
to mention a lead).
"""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from followthrough.errors import as_temporal_errors
from followthrough.leads.models import (
    ContactState,
    ContactStateInput,
    ConversationMessage,
    RecentConversation,
    RecentConversationInput,
    SaveMemoryInput,
    SetStageInput,
)
from followthrough.services import Services
from followthrough.store.models import InboundMessage, Lead
from followthrough.store.repositories import Leads


class LeadActivities:
    def __init__(self, services: Services) -> None:
        self._db = services.database
        self._leads = Leads(services.database)

    @activity.defn(name="leads.set_stage")
    async def set_stage(self, input: SetStageInput) -> str | None:
        """Move the lead to ``input.stage``; returns the stage it had (None: no record before)."""
        with as_temporal_errors():
            async with self._db.session() as session:
                row = await session.get(Lead, input.lead_id, with_for_update=True)
                if row is None:
                    session.add(Lead(id=input.lead_id, stage=input.stage))
                    return None
                previous = row.stage
                row.stage = input.stage
                return previous

    @activity.defn(name="leads.contact_state")
    async def contact_state(self, input: ContactStateInput) -> ContactState:
        """Whether the lead may be messaged now: read right before each follow-up message."""
        with as_temporal_errors():
            async with self._db.session() as session:
                row = await session.get(Lead, input.lead_id)
                if row is None:
                    return ContactState(lead_id=input.lead_id, known=False)
                return ContactState(lead_id=input.lead_id, known=True, opted_out=row.opted_out, stage=row.stage)

    @activity.defn(name="leads.recent_conversation")
    async def recent_conversation(self, input: RecentConversationInput) -> RecentConversation:
        """The lead's latest inbound messages, oldest first (what the memory summary reads)."""
        with as_temporal_errors():
            async with self._db.session() as session:
                rows = (
                    await session.scalars(
                        select(InboundMessage)
                        .where(InboundMessage.lead_id == input.lead_id, InboundMessage.text.is_not(None))
                        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
                        .limit(input.limit)
                    )
                ).all()
            messages = [
                ConversationMessage(direction="inbound", text=row.text or "", at=row.received_at)
                for row in reversed(rows)
            ]
            return RecentConversation(lead_id=input.lead_id, messages=messages)

    @activity.defn(name="leads.save_memory")
    async def save_memory(self, input: SaveMemoryInput) -> bool:
        """Store the lead's memory summary as of ``input.updated_at``; False: a newer one is kept."""
        with as_temporal_errors():
            return await self._leads.save_memory(input.lead_id, input.summary, input.updated_at)
