"""Notifications and their delivery state per channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from followthrough.store.models import Notification, NotificationDelivery
from followthrough.store.repositories.base import Repository, insert_if_absent
from followthrough.store.types import utcnow


class Notifications(Repository):
    async def create(
        self,
        *,
        user_id: str,
        type: str,
        message: str,
        channels: Sequence[str],
        notification_id: str | None = None,
        workflow_id: str | None = None,
    ) -> Notification:
        """Create the notification with a pending delivery per channel; with
        ``notification_id`` given, a retried call returns the first row."""
        if not channels:
            raise ValueError("a notification needs at least one channel")
        if notification_id is not None and (existing := await self.get(notification_id)) is not None:
            return existing
        async with self.database.session() as session:
            notification = Notification(
                **({"id": notification_id} if notification_id else {}),
                user_id=user_id,
                type=type,
                message=message,
                channels=list(channels),
                workflow_id=workflow_id,
            )
            session.add(notification)
            await session.flush()
            for channel in dict.fromkeys(channels):
                await insert_if_absent(
                    session,
                    NotificationDelivery.__table__,  # type: ignore[arg-type]
                    {
                        "notification_id": notification.id,
                        "channel": channel,
                        "status": "pending",
                        "attempts": 0,
                        "updated_at": utcnow(),
                    },
                )
        return notification

    async def open(
        self, notification_id: str, *, user_id: str, type: str, message: str, channels: Sequence[str], workflow_id: str
    ) -> bool:
        """The notification workflow's record: the notification (``pending``) and one pending
        delivery row per channel, in one transaction; False when it exists already (a retry)."""
        async with self.database.session() as session:
            if await session.get(Notification, notification_id) is not None:
                return False
            session.add(
                Notification(
                    id=notification_id,
                    user_id=user_id,
                    type=type,
                    message=message,
                    channels=list(channels),
                    status="pending",
                    workflow_id=workflow_id,
                )
            )
            await session.flush()
            session.add_all(
                NotificationDelivery(notification_id=notification_id, channel=channel, status="pending")
                for channel in channels
            )
        return True

    async def get(self, notification_id: str) -> Notification | None:
        return await self._get(Notification, notification_id)

    async def set_status(self, notification_id: str, status: str) -> bool:
        """Set the notification's status; False when there is no such notification."""
        async with self.database.session() as session:
            notification = await session.get(Notification, notification_id)
            if notification is None:
                return False
            notification.status = status
        return True

    async def count_attempt(self, notification_id: str, channel: str, attempt: int) -> None:
        """Count attempt number ``attempt`` on the channel's delivery row (never lowering the
        count; a missing row is created)."""
        async with self.database.session() as session:
            row = await _delivery(session, notification_id, channel)
            row.attempts = max(row.attempts, attempt)

    async def set_delivery(
        self, notification_id: str, channel: str, *, status: str, provider_message_id: str | None, error: str | None
    ) -> None:
        """Record the channel's delivery outcome (a missing row is created). ``delivered_at`` is
        stamped the first time it is ``delivered``; a row never attempted here (a channel
        delivered by another capability) counts one attempt."""
        async with self.database.session() as session:
            row = await _delivery(session, notification_id, channel)
            row.status = status
            row.provider_message_id = provider_message_id
            row.error = error
            if status == "delivered" and row.delivered_at is None:
                row.delivered_at = utcnow()
            if row.attempts == 0:
                row.attempts = 1

    async def deliveries(self, notification_id: str) -> dict[str, NotificationDelivery]:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id)
            )
            return {row.channel: row for row in rows}

    async def record_attempt(
        self,
        notification_id: str,
        channel: str,
        *,
        delivered: bool,
        provider_message_id: str | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> Notification:
        """Count a delivery attempt on a channel and roll the notification's status up:
        ``delivered`` when every channel is, ``failed`` when every channel failed, ``partial``
        when they are mixed and settled, ``pending`` while any channel is."""
        now = at or utcnow()
        async with self.database.session() as session:
            notification = await self._require(session, Notification, notification_id, lock=True)
            values: dict[str, object] = {
                "attempts": NotificationDelivery.attempts + 1,
                "status": "delivered" if delivered else "failed",
                "error": None if delivered else error,
                "updated_at": now,
            }
            if delivered:
                values.update(provider_message_id=provider_message_id, delivered_at=now)
            result = await session.execute(
                update(NotificationDelivery)
                .where(
                    NotificationDelivery.notification_id == notification_id,
                    NotificationDelivery.channel == channel,
                    NotificationDelivery.status != "delivered",
                )
                .values(values)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                known = await session.scalar(
                    select(NotificationDelivery.id).where(
                        NotificationDelivery.notification_id == notification_id, NotificationDelivery.channel == channel
                    )
                )
                if known is None:
                    raise ValueError(f"notification {notification_id!r} has no channel {channel!r}")
            statuses = set(
                (
                    await session.scalars(
                        select(NotificationDelivery.status).where(
                            NotificationDelivery.notification_id == notification_id
                        )
                    )
                ).all()
            )
            notification.status = _rollup(statuses)
        return notification


async def _delivery(session: AsyncSession, notification_id: str, channel: str) -> NotificationDelivery:
    row = await session.scalar(
        select(NotificationDelivery).where(
            NotificationDelivery.notification_id == notification_id, NotificationDelivery.channel == channel
        )
    )
    if row is None:
        row = NotificationDelivery(notification_id=notification_id, channel=channel, status="pending", attempts=0)
        session.add(row)
    return row


def _rollup(statuses: set[str]) -> str:
    if statuses == {"delivered"}:
        return "delivered"
    if statuses == {"failed"}:
        return "failed"
    if "pending" in statuses:
        return "pending"
    return "partial"
