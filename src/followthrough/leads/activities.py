"""Lead records: the funnel stage, the opt-out check before a message, the recent conversation
and the memory summary made from it.

Every write is harmless to repeat: ``set_stage`` to the same stage returns that stage as the
previous one, ``save_memory`` never lets an older summary replace a newer one, and a lead the
store has not heard of yet gets a record instead of an error (a workflow may be the first thing
to mention a lead).
"""

from __future__ import annotations

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


class LeadActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories.leads import Leads

        self._leads = Leads(services.database)

    @activity.defn(name="leads.set_stage")
    async def set_stage(self, input: SetStageInput) -> str | None:
        """Move the lead to ``input.stage``; returns the stage it had (None: no record before)."""
        with as_temporal_errors():
            return await self._leads.move_stage(input.lead_id, input.stage)

    @activity.defn(name="leads.contact_state")
    async def contact_state(self, input: ContactStateInput) -> ContactState:
        """Whether the lead may be messaged now: read right before each follow-up message."""
        with as_temporal_errors():
            row = await self._leads.get(input.lead_id)
            if row is None:
                return ContactState(lead_id=input.lead_id, known=False)
            return ContactState(lead_id=input.lead_id, known=True, opted_out=row.opted_out, stage=row.stage)

    @activity.defn(name="leads.recent_conversation")
    async def recent_conversation(self, input: RecentConversationInput) -> RecentConversation:
        """The lead's latest inbound messages, oldest first (what the memory summary reads)."""
        with as_temporal_errors():
            rows = await self._leads.inbound_messages(input.lead_id, input.limit, with_text=True)
            messages = [
                ConversationMessage(direction="inbound", text=row.text or "", at=row.received_at) for row in rows
            ]
            return RecentConversation(lead_id=input.lead_id, messages=messages)

    @activity.defn(name="leads.save_memory")
    async def save_memory(self, input: SaveMemoryInput) -> bool:
        """Store the lead's memory summary as of ``input.updated_at``; False: a newer one is kept."""
        with as_temporal_errors():
            return await self._leads.save_memory(input.lead_id, input.summary, input.updated_at)
