"""What every repository shares: the not-found error, field updates, insert-if-absent."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from followthrough.store.database import Database

M = TypeVar("M", bound=DeclarativeBase)
T = TypeVar("T")

#: Messages of the transient conflicts a transaction may simply be run again after.
_CONFLICTS = ("deadlock", "could not serialize", "database is locked", "lock wait timeout")


class RecordNotFound(LookupError):
    """No record with that id (the message names the table and the id)."""

    def __init__(self, table: str, key: object) -> None:
        super().__init__(f"{table} {key!r} not found")
        self.table = table
        self.key = key


class Repository:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def _get(self, model: type[M], key: object) -> M | None:
        async with self.database.session() as session:
            return await session.get(model, key)

    async def _require(self, session: AsyncSession, model: type[M], key: object, *, lock: bool = False) -> M:
        record = await session.get(model, key, with_for_update=lock)
        if record is None:
            raise RecordNotFound(model.__tablename__, key)  # type: ignore[attr-defined]
        return record

    async def _insert_once(self, record: M, existing: Callable[[], Awaitable[M | None]]) -> M:
        """Insert ``record``, or return ``existing()`` when a UNIQUE key already holds it (a
        retried or concurrent call gets the first row); any other refusal is raised."""
        try:
            async with self.database.session() as session:
                session.add(record)
            return record
        except IntegrityError:
            found = await existing()
            if found is None:
                raise  # not a duplicate (a missing parent row, a NOT NULL …)
            return found

    async def _update(self, model: type[M], key: object, values: dict[str, Any]) -> M:
        """Set the given columns (unknown names are a ``TypeError``, not silently ignored)."""
        unknown = set(values) - set(model.__table__.columns.keys())  # type: ignore[attr-defined]
        if unknown:
            raise TypeError(f"{model.__name__} has no column(s) {sorted(unknown)}")
        async with self.database.session() as session:
            record = await self._require(session, model, key, lock=True)
            for name, value in values.items():
                setattr(record, name, value)
        return record


async def insert_if_absent(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    """``INSERT`` that does nothing when a UNIQUE key already holds the row (no error, so the
    surrounding transaction stays usable on PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(postgresql.insert(table).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        await session.execute(sqlite.insert(table).values(values).on_conflict_do_nothing())
    elif dialect in ("mysql", "mariadb"):
        first = next(iter(values))
        stmt = mysql.insert(table).values(values)
        await session.execute(stmt.on_duplicate_key_update({first: table.c[first]}))  # a no-op update
    else:  # pragma: no cover - the three supported back-ends are above
        raise NotImplementedError(dialect)


def is_conflict(exc: BaseException) -> bool:
    """A UNIQUE race, a deadlock or a serialization failure: running the transaction again
    (it was rolled back) settles it."""
    if isinstance(exc, IntegrityError):
        return True
    return isinstance(exc, DBAPIError) and any(word in str(exc.orig).lower() for word in _CONFLICTS)


async def retrying(transaction: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run a whole transaction, again after a conflict (with a short jittered pause)."""
    for attempt in range(1, attempts + 1):
        try:
            return await transaction()
        except DBAPIError as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
    raise AssertionError("unreachable")
