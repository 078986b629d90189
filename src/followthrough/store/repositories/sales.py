"""Appointments (demos booked on the calendar) and payments (checkout sessions) of a lead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from followthrough.store.models import Appointment, Payment
from followthrough.store.repositories.base import RecordNotFound, Repository, retrying
from followthrough.store.repositories.leads import LeadData, ensure_lead
from followthrough.store.types import utcnow


class WriteRefused(ValueError):
    """The store refused a write for a reason a retry cannot change (a missing parent row, a
    NOT NULL …): the message is the database's."""


class Appointments(Repository):
    async def get(self, appointment_id: str) -> Appointment | None:
        return await self._get(Appointment, appointment_id)

    async def get_by_booking(self, calendar_booking_id: str) -> Appointment | None:
        async with self.database.session() as session:
            query = select(Appointment).where(Appointment.calendar_booking_id == calendar_booking_id)
            return await session.scalar(query)

    async def record_booking(
        self,
        *,
        lead_id: str,
        start_at: datetime,
        end_at: datetime,
        calendar_booking_id: str,
        workflow_id: str | None = None,
    ) -> Appointment:
        """The appointment of a calendar booking, created once: a retried activity gets the
        same row back (the booking id is UNIQUE)."""
        appointment = Appointment(
            lead_id=lead_id,
            start_at=start_at,
            end_at=end_at,
            calendar_booking_id=calendar_booking_id,
            workflow_id=workflow_id,
        )
        return await self._insert_once(appointment, lambda: self.get_by_booking(calendar_booking_id))

    async def book(
        self, lead: LeadData, *, start_at: datetime, end_at: datetime, calendar_booking_id: str, workflow_id: str | None
    ) -> tuple[Appointment, bool]:
        """The ``scheduled`` appointment of a calendar booking, created once with the lead's row
        when the store has none yet (never overwritten), in one transaction; ``(row, created)``.
        A retry, or a concurrent attempt that wrote the same booking first, gets that row back
        (the booking id is UNIQUE); any other refusal is :class:`WriteRefused`."""
        existing = await self.get_by_booking(calendar_booking_id)
        if existing is not None:
            return existing, False
        try:
            async with self.database.session() as session:
                await ensure_lead(session, lead)
                row = Appointment(
                    lead_id=lead.id,
                    start_at=start_at,
                    end_at=end_at,
                    calendar_booking_id=calendar_booking_id,
                    status="scheduled",
                    workflow_id=workflow_id,
                )
                session.add(row)
                await session.flush()
            return row, True
        except IntegrityError as exc:
            existing = await self.get_by_booking(calendar_booking_id)
            if existing is not None:
                return existing, False
            raise WriteRefused(str(exc.orig)) from exc

    async def cancel(self, appointment_id: str) -> Appointment | None:
        """Mark the appointment cancelled (the first time stamps ``cancelled_at``; harmless to
        repeat); None when there is no such record."""
        async with self.database.session() as session:
            row = await session.get(Appointment, appointment_id)
            if row is None:
                return None
            if row.status != "cancelled":
                row.status = "cancelled"
                row.cancelled_at = utcnow()
            await session.flush()
        return row

    async def reschedule(self, appointment_id: str, start_at: datetime, end_at: datetime) -> Appointment:
        return await self._update(
            Appointment, appointment_id, {"start_at": start_at, "end_at": end_at, "status": "rescheduled"}
        )

    async def set_status(self, appointment_id: str, status: str) -> Appointment:
        values: dict[str, Any] = {"status": status}
        if status == "cancelled":
            values["cancelled_at"] = utcnow()
        return await self._update(Appointment, appointment_id, values)

    async def for_lead(self, lead_id: str) -> list[Appointment]:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(Appointment).where(Appointment.lead_id == lead_id).order_by(Appointment.start_at)
            )
            return list(rows.all())


class Payments(Repository):
    async def get(self, payment_id: str) -> Payment | None:
        return await self._get(Payment, payment_id)

    async def get_by_session(self, checkout_session_id: str) -> Payment | None:
        async with self.database.session() as session:
            return await session.scalar(select(Payment).where(Payment.checkout_session_id == checkout_session_id))

    async def create(
        self,
        *,
        lead_id: str,
        amount: int,
        currency: str,
        reference: str | None = None,
        description: str | None = None,
        workflow_id: str | None = None,
        payment_id: str | None = None,
    ) -> Payment:
        """A pending payment; pass ``payment_id`` (derived from the business identity) to make a
        retried call return the first row instead of a twin."""
        if amount <= 0:
            raise ValueError(f"amount must be positive minor units, got {amount}")
        fields: dict[str, Any] = {
            "lead_id": lead_id,
            "amount": amount,
            "currency": currency.lower(),
            "reference": reference,
            "description": description,
            "workflow_id": workflow_id,
        }
        if payment_id is not None:
            fields["id"] = payment_id

        async def first() -> Payment | None:  # without an id from the caller a twin cannot be told
            return await self.get(payment_id) if payment_id is not None else None

        return await self._insert_once(Payment(**fields), first)

    async def record_checkout(
        self,
        lead: LeadData,
        *,
        checkout_session_id: str,
        checkout_url: str | None,
        amount: int,
        currency: str,
        reference: str | None = None,
        description: str | None = None,
        expires_at: datetime | None = None,
        workflow_id: str | None = None,
    ) -> Payment:
        """The pending payment of a checkout session, created once: a retry (or a concurrent
        attempt) gets the first row back, the session id being UNIQUE. The lead's record is
        created from ``lead`` when the store has none."""

        async def transaction() -> Payment:
            async with self.database.session() as session:
                query = select(Payment).where(Payment.checkout_session_id == checkout_session_id)
                existing = await session.scalar(query)
                if existing is not None:
                    return existing
                await ensure_lead(session, lead)
                payment = Payment(
                    lead_id=lead.id,
                    reference=reference,
                    checkout_session_id=checkout_session_id,
                    checkout_url=checkout_url,
                    amount=amount,
                    currency=currency,
                    description=description,
                    status="pending",
                    expires_at=expires_at,
                    workflow_id=workflow_id,
                )
                session.add(payment)
            return payment

        return await retrying(transaction)

    async def settle_session(self, checkout_session_id: str, status: str, at: datetime) -> str:
        """Move the checkout's pending payment to ``paid`` (at ``at``) or ``expired``; a settled
        payment keeps its status (a late or repeated event cannot unpay it). Returns the status."""
        async with self.database.session() as session:
            query = select(Payment).where(Payment.checkout_session_id == checkout_session_id).with_for_update()
            payment = await session.scalar(query)
            if payment is None:
                raise RecordNotFound("payments", checkout_session_id)
            if payment.status == "pending":
                payment.status = status
                if status == "paid":
                    payment.paid_at = at
            return payment.status

    async def attach_checkout(
        self, payment_id: str, *, checkout_session_id: str, checkout_url: str | None, expires_at: datetime | None
    ) -> Payment:
        return await self._update(
            Payment,
            payment_id,
            {"checkout_session_id": checkout_session_id, "checkout_url": checkout_url, "expires_at": expires_at},
        )

    async def mark_paid(self, payment_id: str, paid_at: datetime) -> bool:
        """Mark paid once: True the first time, False if it already was (a redelivered webhook)."""
        async with self.database.session() as session:
            result = await session.execute(
                update(Payment)
                .where(Payment.id == payment_id, Payment.status != "paid")
                .values(status="paid", paid_at=paid_at, updated_at=utcnow())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                await self._require(session, Payment, payment_id)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_status(self, payment_id: str, status: str) -> Payment:
        """Any status but ``paid`` (use :meth:`mark_paid`); a paid payment keeps its status."""
        if status == "paid":
            raise ValueError("use mark_paid() to record a payment")
        async with self.database.session() as session:
            await session.execute(
                update(Payment)
                .where(Payment.id == payment_id, Payment.status != "paid")
                .values(status=status, updated_at=utcnow())
            )
            return await self._require(session, Payment, payment_id)
