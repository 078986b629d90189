"""Connected sender accounts and the atomic counters behind their caps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update

from followthrough.store.models import Campaign, SenderAccount, SenderPause, SenderUsage
from followthrough.store.repositories.base import Repository, insert_if_absent, retrying
from followthrough.store.types import utcnow

SENDER_STATUSES = frozenset({"connected", "credentials_invalid", "suspended", "disconnected"})
#: Campaign statuses during which a sender account is in use (it cannot be removed then).
ACTIVE_CAMPAIGN_STATUSES = ("running", "paused")


def day_period(instant: datetime, timezone: str) -> str:
    """The day an instant falls on in a zone, as a usage period (``2025-07-01``)."""
    return instant.astimezone(ZoneInfo(timezone)).date().isoformat()


def week_period(instant: datetime, timezone: str) -> str:
    """The ISO week an instant falls in, in a zone, as a usage period (``2025-W27``)."""
    year, week, _ = instant.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


class SenderAccounts(Repository):
    async def create(self, *, sender_account_id: str | None = None, **fields: Any) -> SenderAccount:
        async with self.database.session() as session:
            account = SenderAccount(**({"id": sender_account_id} if sender_account_id else {}), **fields)
            session.add(account)
        return account

    async def get(self, sender_account_id: str) -> SenderAccount | None:
        return await self._get(SenderAccount, sender_account_id)

    async def set_status(self, sender_account_id: str, status: str) -> SenderAccount:
        if status not in SENDER_STATUSES:
            raise ValueError(f"unknown sender status {status!r} (expected one of {sorted(SENDER_STATUSES)})")
        return await self._update(SenderAccount, sender_account_id, {"status": status})

    async def update(self, sender_account_id: str, **values: Any) -> SenderAccount:
        return await self._update(SenderAccount, sender_account_id, values)

    async def for_organization(self, organization_id: str, status: str | None = None) -> list[SenderAccount]:
        query = select(SenderAccount).where(SenderAccount.organization_id == organization_id)
        if status is not None:
            query = query.where(SenderAccount.status == status)
        async with self.database.session() as session:
            return list((await session.scalars(query.order_by(SenderAccount.created_at))).all())

    async def owned_by(self, organization_id: str | None = None, limit: int = 500) -> list[SenderAccount]:
        """Every account (or one organization's), oldest first."""
        query = select(SenderAccount)
        if organization_id is not None:
            query = query.where(SenderAccount.organization_id == organization_id)
        async with self.database.session() as session:
            rows = await session.scalars(query.order_by(SenderAccount.created_at, SenderAccount.id).limit(limit))
            return list(rows.all())

    async def acting_as(self, provider_account_id: str) -> list[SenderAccount]:
        """The accounts that act as this provider account (Unipile's ``account_id``)."""
        query = select(SenderAccount).where(SenderAccount.provider_account_id == provider_account_id)
        async with self.database.session() as session:
            return list((await session.scalars(query.order_by(SenderAccount.created_at))).all())

    async def campaigns_using(self, sender_account_id: str, statuses: Sequence[str]) -> list[Campaign]:
        query = select(Campaign).where(
            Campaign.sender_account_id == sender_account_id, Campaign.status.in_(list(statuses))
        )
        async with self.database.session() as session:
            return list((await session.scalars(query.order_by(Campaign.created_at, Campaign.id))).all())

    async def delete(self, sender_account_id: str) -> None:
        """Remove the account, its counters and pauses; its campaigns keep their records, sender
        unset (done here, not left to the foreign keys: SQLite enforces none unless told)."""
        async with self.database.session() as session:
            await session.execute(
                update(Campaign).where(Campaign.sender_account_id == sender_account_id).values(sender_account_id=None)
            )
            await session.execute(delete(SenderPause).where(SenderPause.sender_account_id == sender_account_id))
            await session.execute(delete(SenderUsage).where(SenderUsage.sender_account_id == sender_account_id))
            await session.execute(delete(SenderAccount).where(SenderAccount.id == sender_account_id))


class SenderPauses(Repository):
    """Campaigns paused because their sender account lost its connection (see the model)."""

    async def record(self, campaign_id: str, sender_account_id: str, reason: str) -> None:
        async with self.database.session() as session:
            found = await session.get(SenderPause, campaign_id)
            if found is None:
                session.add(
                    SenderPause(
                        campaign_id=campaign_id, sender_account_id=sender_account_id, reason=reason, paused_at=utcnow()
                    )
                )
            else:
                found.sender_account_id, found.reason = sender_account_id, reason

    async def for_sender(self, sender_account_id: str) -> list[SenderPause]:
        query = select(SenderPause).where(SenderPause.sender_account_id == sender_account_id)
        async with self.database.session() as session:
            return list((await session.scalars(query.order_by(SenderPause.paused_at))).all())

    async def forget(self, campaign_id: str) -> None:
        async with self.database.session() as session:
            await session.execute(delete(SenderPause).where(SenderPause.campaign_id == campaign_id))


@dataclass(frozen=True)
class Reservation:
    """Take from one counter: ``action`` in ``period`` may reach at most ``limit``."""

    action: str
    period: str
    limit: int


class _Full(Exception):
    pass


class SenderUsageCounters(Repository):
    """Caps that hold across any number of workers and campaigns sharing a sender.

    :meth:`reserve` takes one unit from several counters at once (say the day's invitations
    and the week's) or from none: each counter is raised by a conditional
    ``UPDATE … SET count = count + n WHERE count + n <= limit`` — atomic on every back-end, so
    two workers racing for the last slot cannot both win — inside one transaction that rolls
    back if any counter is full.
    """

    async def reserve(self, sender_account_id: str, reservations: Sequence[Reservation], amount: int = 1) -> bool:

        async def transaction() -> None:
            async with self.database.session() as session:
                for r in reservations:
                    key = {"sender_account_id": sender_account_id, "action": r.action, "period": r.period}
                    await insert_if_absent(session, SenderUsage.__table__, {**key, "count": 0})  # type: ignore[arg-type]
                    result = await session.execute(
                        update(SenderUsage)
                        .where(*_matches(key), SenderUsage.count + amount <= r.limit)
                        .values(count=SenderUsage.count + amount)
                    )
                    if result.rowcount == 0:  # type: ignore[attr-defined]
                        raise _Full

        try:
            await retrying(transaction)
        except _Full:
            return False
        return True

    async def release(self, sender_account_id: str, reservations: Sequence[Reservation], amount: int = 1) -> None:
        """Give units back (an action that was reserved but not performed); never below zero."""
        async with self.database.session() as session:
            for r in reservations:
                key = {"sender_account_id": sender_account_id, "action": r.action, "period": r.period}
                await session.execute(
                    update(SenderUsage)
                    .where(*_matches(key), SenderUsage.count >= amount)
                    .values(count=SenderUsage.count - amount)
                )

    async def used(self, sender_account_id: str, action: str, period: str) -> int:
        key = {"sender_account_id": sender_account_id, "action": action, "period": period}
        async with self.database.session() as session:
            return int(await session.scalar(select(SenderUsage.count).where(*_matches(key))) or 0)


def _matches(key: dict[str, str]) -> list[Any]:
    return [
        SenderUsage.sender_account_id == key["sender_account_id"],
        SenderUsage.action == key["action"],
        SenderUsage.period == key["period"],
    ]
