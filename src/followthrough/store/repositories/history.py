"""Everything the store holds about one lead, for its timeline (the web app's lead page).

One call per source, each bounded: a lead has a handful of bookings, payments and campaign runs;
its inbound messages are capped at :data:`MAX_MESSAGES` (newest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select

from followthrough.store.models import (
    Appointment,
    Campaign,
    CampaignExecution,
    ContentItem,
    InboundMessage,
    Lead,
    OutboxRecord,
    Payment,
)
from followthrough.store.repositories.base import Repository

MAX_MESSAGES = 200
#: The outbox keys of the messages sent to a lead start with one of these and the lead's id
#: (``followup:{lead}:…``, ``payment:{lead}:{reference}:{kind}``, ``booking-confirmation:{lead}:…``).
MESSAGE_KEY_PREFIXES = ("followup", "payment", "booking-confirmation")


@dataclass
class LeadHistory:
    lead: Lead | None = None
    appointments: list[Appointment] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    #: The lead's campaign runs, each with its campaign (for the owner and the name).
    executions: list[tuple[CampaignExecution, Campaign]] = field(default_factory=list)


class LeadHistories(Repository):
    async def of(self, lead_id: str, organization: str) -> LeadHistory:
        """What ``organization`` owns of lead ``lead_id``: its sales records when the lead is
        the organization's, and its runs in the organization's campaigns."""
        history = LeadHistory()
        async with self.database.session() as session:
            lead = await session.get(Lead, lead_id)
            if lead is not None and lead.organization_id == organization:
                history.lead = lead
                history.appointments = list(
                    await session.scalars(select(Appointment).where(Appointment.lead_id == lead_id))
                )
                history.payments = list(await session.scalars(select(Payment).where(Payment.lead_id == lead_id)))
                history.messages = list(
                    await session.scalars(
                        select(InboundMessage)
                        .where(InboundMessage.lead_id == lead_id)
                        .order_by(InboundMessage.received_at.desc())
                        .limit(MAX_MESSAGES)
                    )
                )
            runs = await session.execute(
                select(CampaignExecution, Campaign)
                .join(Campaign, Campaign.id == CampaignExecution.campaign_id)
                .where(CampaignExecution.lead_id == lead_id, Campaign.organization_id == organization)
            )
            history.executions = [(run, campaign) for run, campaign in runs.all()]
        return history

    async def upcoming_demos(self, organization: str, start: datetime, end: datetime) -> list[Appointment]:
        """The organization's demos booked between ``start`` and ``end``, soonest first."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(Appointment)
                .join(Lead, Lead.id == Appointment.lead_id)
                .where(
                    Lead.organization_id == organization,
                    Appointment.start_at >= start,
                    Appointment.start_at < end,
                    Appointment.status.in_(("scheduled", "rescheduled")),
                )
                .order_by(Appointment.start_at)
                .limit(MAX_MESSAGES)
            )
            return list(rows.all())

    async def waiting_payments(self, organization: str, limit: int = MAX_MESSAGES) -> list[Payment]:
        """The organization's payments still waiting to be paid, oldest first."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(Payment)
                .join(Lead, Lead.id == Payment.lead_id)
                .where(Lead.organization_id == organization, Payment.status == "pending")
                .order_by(Payment.created_at)
                .limit(limit)
            )
            return list(rows.all())

    async def awaiting_review(self, content_ids: Sequence[str]) -> list[ContentItem]:
        """Of these content items (the caller's own, found in its visibility list), those whose
        draft waits for a human review, oldest first."""
        if not content_ids:
            return []
        async with self.database.session() as session:
            rows = await session.scalars(
                select(ContentItem)
                .where(ContentItem.id.in_(list(content_ids)), ContentItem.status == "pending_review")
                .order_by(ContentItem.updated_at)
            )
            return list(rows.all())

    async def messages_out(self, lead_id: str) -> list[OutboxRecord]:
        """The messages sent to the lead (the outbox's ``send`` records under the lead's keys),
        newest first. Each prefix is a key range, so the outbox's unique key index finds them on
        every back-end (a ``LIKE`` would not use it on SQLite or PostgreSQL)."""
        ranges = [
            and_(OutboxRecord.idempotency_key >= f"{p}:{lead_id}:", OutboxRecord.idempotency_key < f"{p}:{lead_id};")
            for p in MESSAGE_KEY_PREFIXES
        ]
        async with self.database.session() as session:
            rows = await session.scalars(
                select(OutboxRecord)
                .where(or_(*ranges), OutboxRecord.operation == "send")
                .order_by(OutboxRecord.created_at.desc())
                .limit(MAX_MESSAGES)
            )
            return list(rows.all())

    async def side_effects(self, keys: Sequence[str]) -> dict[str, OutboxRecord]:
        """The outbox records under these idempotency keys (when each action went out)."""
        if not keys:
            return {}
        async with self.database.session() as session:
            rows = await session.scalars(select(OutboxRecord).where(OutboxRecord.idempotency_key.in_(list(keys))))
            return {row.idempotency_key: row for row in rows}
