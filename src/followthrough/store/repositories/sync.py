"""A data sync's own records in the app's database: its watermark and its quarantine
(``sync_watermarks``, ``sync_quarantine``; revision ``0003_sync_state``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from followthrough.store.models import Base, SyncQuarantine, SyncWatermark
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow

WATERMARKS: Table = Base.metadata.tables[SyncWatermark.__tablename__]
QUARANTINE: Table = Base.metadata.tables[SyncQuarantine.__tablename__]


class SyncState(Repository):
    async def watermark(self, sync_name: str) -> tuple[str | None, str | None] | None:
        """The sync's ``(cursor, key)`` after the last row it synced; None before its first page."""
        async with self.database.engine.connect() as conn:
            query = select(WATERMARKS).where(WATERMARKS.c.sync_name == sync_name)
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else (row["cursor_value"], row["key_value"])

    async def advance(self, sync_name: str, cursor: str | None, key: str | None) -> None:
        """Store the sync's watermark (the first one is inserted, later ones replace it)."""
        values: dict[str, Any] = {"cursor_value": cursor, "key_value": key, "updated_at": utcnow()}
        async with self.database.engine.begin() as conn:
            query = select(WATERMARKS.c.sync_name).where(WATERMARKS.c.sync_name == sync_name)
            if (await conn.execute(query)).first() is None:
                await conn.execute(WATERMARKS.insert().values(sync_name=sync_name, **values))
            else:
                await conn.execute(WATERMARKS.update().where(WATERMARKS.c.sync_name == sync_name).values(**values))

    async def quarantine(self, entries: Sequence[dict[str, Any]]) -> None:
        """Keep bad rows (``sync_quarantine`` columns), once per row version: an entry already
        there (a retried call) is skipped."""
        if not entries:
            return
        rows = list(entries)
        dialect = self.database.dialect
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(QUARANTINE).values(rows).on_conflict_do_nothing()
        elif dialect in ("mysql", "mariadb"):
            stmt = mysql.insert(QUARANTINE).values(rows).prefix_with("IGNORE")
        else:
            stmt = sqlite.insert(QUARANTINE).values(rows).on_conflict_do_nothing()
        async with self.database.engine.begin() as conn:
            await conn.execute(stmt)
