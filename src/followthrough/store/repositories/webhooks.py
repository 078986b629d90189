"""Webhook deliveries accepted, shared by every API process (issue 18).

Providers deliver at least once: Stripe retries an event for three days, Slack three times,
Meta and Cal.com on any answer that is not 2xx. :meth:`WebhookDeliveries.claim` records a
delivery id under ``UNIQUE(provider, delivery_id)``, so exactly one claim of an id, in any
process on any back-end, is :attr:`Claim.NEW`; the others learn whether it was handled
(:attr:`Claim.DONE`: answer 2xx and do nothing) or is being handled right now
(:attr:`Claim.BUSY`: ask the provider to come back).

The claimer says how it went: :meth:`~WebhookDeliveries.complete` after the event was handled,
:meth:`~WebhookDeliveries.release` when it could not be (the provider's redelivery is then new
again). A claimer that died mid-way leaves a row without ``completed_at``; after :data:`LEASE`
the next delivery takes it over, so a crash costs a delay, never the event.

Rows live until ``expires_at``: an expired row is taken over by the next claim, and
:meth:`~WebhookDeliveries.cleanup` deletes them in bounded batches, at most once per
``cleanup_interval`` per instance (:meth:`~WebhookDeliveries.claim` calls it on its way).
"""

from __future__ import annotations

import enum
import logging
import time
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from followthrough.store.database import Database
from followthrough.store.models import WebhookDelivery
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow

log = logging.getLogger(__name__)

#: How long a claim may stay unfinished before another delivery of the same id takes it over
#: (its claimer died). Longer than any webhook spends handling one delivery.
LEASE = timedelta(seconds=60)
#: Seconds between two clean-ups of expired rows by one instance.
CLEANUP_INTERVAL = 60.0
#: Expired rows deleted by one clean-up at most (the next one takes the rest).
CLEANUP_BATCH = 500
#: The longest provider name and delivery id the table holds.
MAX_PROVIDER, MAX_DELIVERY_ID = 32, 255

_table = cast(Table, WebhookDelivery.__table__)
_c = _table.c


class Claim(enum.StrEnum):
    """What a claim of a delivery id found."""

    NEW = "new"  # the first: handle it, then complete() (or release() when that failed)
    DONE = "done"  # handled before: a duplicate, answer 2xx and change nothing
    BUSY = "busy"  # being handled by another claim right now: ask the provider to retry

    @property
    def new(self) -> bool:
        return self is Claim.NEW


def _key(provider: str, delivery_id: str) -> tuple[str, str]:
    if not 0 < len(provider) <= MAX_PROVIDER:
        raise ValueError(f"provider must be 1 to {MAX_PROVIDER} characters, got {len(provider)}")
    if not 0 < len(delivery_id) <= MAX_DELIVERY_ID:
        raise ValueError(f"delivery_id must be 1 to {MAX_DELIVERY_ID} characters, got {len(delivery_id)}")
    return provider, delivery_id


class WebhookDeliveries(Repository):
    def __init__(
        self,
        database: Database,
        *,
        lease: timedelta = LEASE,
        cleanup_interval: float = CLEANUP_INTERVAL,
        cleanup_batch: int = CLEANUP_BATCH,
    ) -> None:
        super().__init__(database)
        self.lease = lease
        self.cleanup_interval = cleanup_interval
        self.cleanup_batch = cleanup_batch
        self._next_cleanup = 0.0  # time.monotonic() of the next clean-up

    async def claim(self, provider: str, delivery_id: str, ttl: timedelta, *, done: bool = False) -> Claim:
        """Record ``delivery_id`` of ``provider`` for ``ttl``; :attr:`Claim.NEW` for exactly one
        caller. ``done=True`` records it as handled at once (a signature seen: nothing to finish)."""
        provider, delivery_id = _key(provider, delivery_id)
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        await self._maybe_clean_up()
        for _ in range(2):  # again when the row we collided with was deleted in between
            now = utcnow()
            values = {
                "provider": provider,
                "delivery_id": delivery_id,
                "received_at": now,
                "completed_at": now if done else None,
                "expires_at": now + ttl,
            }
            try:
                async with self.database.transaction() as conn:
                    await conn.execute(insert(_table).values(values))
                return Claim.NEW
            except IntegrityError:
                pass  # the UNIQUE key holds it already: expired, abandoned, handled or busy
            async with self.database.transaction() as conn:
                # An atomic UPDATE … WHERE: of concurrent take-overs, one matches the row.
                taken = await conn.execute(
                    update(_table)
                    .where(
                        _c.provider == provider,
                        _c.delivery_id == delivery_id,
                        or_(
                            _c.expires_at <= now,
                            and_(_c.completed_at.is_(None), _c.received_at <= now - self.lease),
                        ),
                    )
                    .values(received_at=now, completed_at=values["completed_at"], expires_at=values["expires_at"])
                )
                if taken.rowcount == 1:
                    return Claim.NEW
                row = (
                    await conn.execute(
                        select(_c.completed_at).where(_c.provider == provider, _c.delivery_id == delivery_id)
                    )
                ).first()
            if row is not None:
                return Claim.BUSY if row.completed_at is None else Claim.DONE
        return Claim.BUSY  # deleted and re-inserted under us twice: someone else has it now

    async def complete(self, provider: str, delivery_id: str) -> None:
        """The claimed delivery was handled: later deliveries of it are :attr:`Claim.DONE`."""
        provider, delivery_id = _key(provider, delivery_id)
        async with self.database.transaction() as conn:
            await conn.execute(
                update(_table)
                .where(_c.provider == provider, _c.delivery_id == delivery_id, _c.completed_at.is_(None))
                .values(completed_at=utcnow())
            )

    async def release(self, provider: str, delivery_id: str) -> None:
        """The claimed delivery could not be handled: the next delivery of it is new again."""
        provider, delivery_id = _key(provider, delivery_id)
        async with self.database.transaction() as conn:
            await conn.execute(
                delete(_table).where(_c.provider == provider, _c.delivery_id == delivery_id, _c.completed_at.is_(None))
            )

    async def cleanup(self, now: datetime | None = None, limit: int | None = None) -> int:
        """Delete at most ``limit`` rows expired at ``now``; returns how many went.

        Two statements, not ``DELETE … LIMIT`` (PostgreSQL has none) nor ``IN (SELECT … LIMIT)``
        (MariaDB refuses it)."""
        cutoff = now or utcnow()
        async with self.database.transaction() as conn:
            ids = (
                await conn.scalars(
                    select(_c.id)
                    .where(_c.expires_at <= cutoff)
                    .order_by(_c.expires_at)
                    .limit(limit or self.cleanup_batch)
                )
            ).all()
            if not ids:
                return 0
            # expires_at again: a row taken over since the SELECT is not expired any more
            gone = await conn.execute(delete(_table).where(_c.id.in_(ids), _c.expires_at <= cutoff))
            return int(gone.rowcount)

    async def _maybe_clean_up(self) -> None:
        """A bounded clean-up, at most once per ``cleanup_interval``; a failure only logs."""
        moment = time.monotonic()
        if moment < self._next_cleanup:
            return
        self._next_cleanup = moment + self.cleanup_interval
        try:
            await self.cleanup()
        except SQLAlchemyError:
            log.warning("webhook_deliveries clean-up failed; the next one retries", exc_info=True)
