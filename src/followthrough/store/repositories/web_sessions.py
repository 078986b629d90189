"""The web app's sessions: opened at sign-in, checked on every request, ended at sign-out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from followthrough.store.models import WebSession
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow


class WebSessions(Repository):
    async def open(self, session_id: str, key_id: str, lifetime: timedelta) -> None:
        """Record a session (``session_id``: the digest of its nonce); expired rows go."""
        now = utcnow()
        async with self.database.session() as session:
            await session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(WebSession(id=session_id, key_id=key_id, created_at=now, expires_at=now + lifetime))

    async def is_open(self, session_id: str, key_id: str, now: datetime | None = None) -> bool:
        """Whether the session exists for this key, has not ended and has not expired."""
        async with self.database.session() as session:
            found = await session.scalar(
                select(WebSession.id).where(
                    WebSession.id == session_id,
                    WebSession.key_id == key_id,
                    WebSession.ended_at.is_(None),
                    WebSession.expires_at > (now or utcnow()),
                )
            )
        return found is not None

    async def end(self, session_id: str) -> bool:
        """End the session; False when it was not open."""
        async with self.database.session() as session:
            result = await session.execute(
                update(WebSession)
                .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]
