"""Leads of the sales assistant and the messages they send us."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from followthrough.store.models import InboundMessage, Lead
from followthrough.store.repositories.base import RecordNotFound, Repository, retrying
from followthrough.store.types import new_id, utcnow


class LeadData(BaseModel):
    """The fields of a lead to create or update; ``None`` leaves a field as it is."""

    id: str | None = None
    phone: str | None = None
    name: str | None = None
    email: str | None = None
    company: str | None = None
    industry: str | None = None
    stage: str | None = None
    language: str | None = None
    timezone: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True)
class InboundResult:
    message: InboundMessage
    created: bool  # False: the provider redelivered a message we already had


@dataclass(frozen=True)
class RecordedMessage:
    """A message from a phone as the store holds it (see :meth:`Leads.record_message_from`)."""

    lead: Lead
    #: False: the provider redelivered a message recorded before (nothing was written).
    fresh: bool
    #: This message created the lead's record (a redelivery of a lead's very first message too).
    new_lead: bool


async def ensure_lead(session: AsyncSession, data: LeadData) -> Lead:
    """The lead ``data.id`` within this transaction, created from ``data`` when the store has
    none yet (a workflow may be the first to mention a lead); an existing record is never
    overwritten. For writes that must not leave a row pointing at a missing lead."""
    if data.id is None:
        raise ValueError("ensure_lead needs the lead's id")
    lead = await session.get(Lead, data.id)
    if lead is None:
        lead = Lead(id=data.id, **data.model_dump(exclude_none=True, exclude={"id"}))
        session.add(lead)
        await session.flush()
    return lead


#: Read before every catalog message (the 24-hour window): one column, built once.
_LAST_INBOUND = select(Lead.last_inbound_at).where(Lead.id == bindparam("b_id"))


class Leads(Repository):
    async def get(self, lead_id: str) -> Lead | None:
        return await self._get(Lead, lead_id)

    async def last_inbound_at(self, lead_id: str) -> datetime | None:
        """When the lead last wrote to us (None: never, or no record of the lead)."""
        async with self.database.transaction() as conn:
            return (await conn.execute(_LAST_INBOUND, {"b_id": lead_id})).scalar()

    async def get_by_phone(self, phone: str) -> Lead | None:
        async with self.database.session() as session:
            return await session.scalar(select(Lead).where(Lead.phone == phone))

    async def upsert(self, data: LeadData) -> Lead:
        """Create the lead, or update the one with this id (else this phone) with the fields given.

        Two concurrent upserts of one new phone cannot both insert (the phone is UNIQUE): the
        loser's transaction runs again and updates the winner's row.
        """
        if data.id is None and data.phone is None:
            raise ValueError("a lead needs an id or a phone to be upserted")
        fields = data.model_dump(exclude_none=True, exclude={"id"})

        async def transaction() -> Lead:
            async with self.database.session() as session:
                lead = None
                if data.id is not None:
                    lead = await session.get(Lead, data.id, with_for_update=True)
                if lead is None and data.phone is not None:
                    lead = await session.scalar(select(Lead).where(Lead.phone == data.phone).with_for_update())
                if lead is None:
                    lead = Lead(**({"id": data.id} if data.id else {}), **fields)
                    session.add(lead)
                else:
                    for name, value in fields.items():
                        setattr(lead, name, value)
            return lead

        return await retrying(transaction)

    async def set_stage(self, lead_id: str, stage: str) -> str:
        """Set the stage and return the previous one."""
        async with self.database.session() as session:
            lead = await self._require(session, Lead, lead_id, lock=True)
            previous = lead.stage
            lead.stage = stage
        return previous

    async def move_stage(self, lead_id: str, stage: str) -> str | None:
        """Set the stage and return the previous one; a lead the store has not heard of yet gets
        a record in that stage (None: there was none)."""
        async with self.database.session() as session:
            lead = await session.get(Lead, lead_id, with_for_update=True)
            if lead is None:
                session.add(Lead(id=lead_id, stage=stage))
                return None
            previous = lead.stage
            lead.stage = stage
            return previous

    async def save_memory(self, lead_id: str, summary: str, at: datetime) -> bool:
        """Keep ``summary`` as the lead's memory as of ``at``; True if it was written.

        Harmless to repeat and to race: a summary older than the one stored is ignored (the
        same one again is rewritten unchanged), and a lead the store has not heard of yet gets
        a record, as a workflow may be the first to mention it.
        """

        async def transaction() -> bool:
            async with self.database.session() as session:
                lead = await session.get(Lead, lead_id, with_for_update=True)
                if lead is None:
                    session.add(Lead(id=lead_id, memory_summary=summary, memory_updated_at=at))
                    return True
                if lead.memory_updated_at is not None and lead.memory_updated_at > at:
                    return False
                lead.memory_summary, lead.memory_updated_at = summary, at
                return True

        return await retrying(transaction)

    async def opt_out(self, lead_id: str, at: datetime | None = None) -> bool:
        """Mark the lead opted out; True if it was not already (the first instant is kept)."""
        async with self.database.session() as session:
            result = await session.execute(
                update(Lead)
                .where(Lead.id == lead_id, Lead.opted_out == False)  # noqa: E712
                .values(opted_out=True, opted_out_at=at or utcnow(), updated_at=utcnow())
            )
            if result.rowcount == 0 and await session.get(Lead, lead_id) is None:  # type: ignore[attr-defined]
                raise RecordNotFound("leads", lead_id)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record_inbound(
        self,
        lead_id: str,
        *,
        provider_message_id: str,
        text: str | None,
        received_at: datetime,
        channel: str = "whatsapp",
    ) -> InboundResult:
        """Store an inbound message once per provider id and move ``last_inbound_at`` forward."""
        try:
            async with self.database.session() as session:
                lead = await self._require(session, Lead, lead_id, lock=True)
                message = InboundMessage(
                    lead_id=lead_id,
                    channel=channel,
                    provider_message_id=provider_message_id,
                    text=text,
                    received_at=received_at,
                )
                session.add(message)
                if lead.last_inbound_at is None or received_at > lead.last_inbound_at:
                    lead.last_inbound_at = received_at
            return InboundResult(message=message, created=True)
        except IntegrityError:
            async with self.database.session() as session:
                existing = await session.scalar(
                    select(InboundMessage).where(InboundMessage.provider_message_id == provider_message_id)
                )
            if existing is None:
                raise
            return InboundResult(message=existing, created=False)

    async def record_message_from(
        self,
        phone: str,
        *,
        name: str | None,
        provider_message_id: str,
        text: str | None,
        received_at: datetime,
        opt_out: bool,
    ) -> RecordedMessage:
        """Store a message from ``phone`` once per provider id, in one transaction with the lead
        it comes from (created in stage ``new`` when the phone is new), its ``last_inbound_at``,
        and, when ``opt_out``, the opt-out: a recorded STOP is always an opted-out lead.

        A redelivery (the provider id is UNIQUE) writes nothing and returns the recorded lead; a
        concurrent first message of the same phone loses the lead's insert once, then runs again.
        """
        for _ in range(2):
            try:
                async with self.database.write_turn(), self.database.session() as session:
                    lead = await session.scalar(select(Lead).where(Lead.phone == phone))
                    created = lead is None
                    if lead is None:
                        lead = Lead(id=new_id(), phone=phone, name=name, stage="new")
                        session.add(lead)
                        await session.flush()
                    lead.last_inbound_at = received_at
                    if opt_out and not lead.opted_out:
                        lead.opted_out, lead.opted_out_at = True, received_at
                    session.add(
                        InboundMessage(
                            lead_id=lead.id,
                            provider_message_id=provider_message_id,
                            text=text,
                            received_at=received_at,
                        )
                    )
                    await session.flush()
                return RecordedMessage(lead=lead, fresh=True, new_lead=created)
            except IntegrityError:
                async with self.database.session() as session:
                    seen = await session.scalar(
                        select(InboundMessage).where(InboundMessage.provider_message_id == provider_message_id)
                    )
                    known = await session.get(Lead, seen.lead_id) if seen is not None else None
                    first = known is not None and 1 == await session.scalar(
                        select(func.count()).select_from(InboundMessage).where(InboundMessage.lead_id == known.id)
                    )
                if known is not None:
                    return RecordedMessage(lead=known, fresh=False, new_lead=first)
        raise RuntimeError(f"could not record inbound message {provider_message_id}")

    async def inbound_messages(self, lead_id: str, limit: int = 50, *, with_text: bool = False) -> list[InboundMessage]:
        """The lead's latest messages, oldest first (``with_text``: only those with a text)."""
        query = select(InboundMessage).where(InboundMessage.lead_id == lead_id)
        if with_text:
            query = query.where(InboundMessage.text.is_not(None))
        async with self.database.session() as session:
            rows = await session.scalars(
                query.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit)
            )
            return list(reversed(rows.all()))
