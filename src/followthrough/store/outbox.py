"""The outbox: every side effect recorded under its idempotency key before success is claimed.

A provider call goes through three steps::

    entry = await outbox.begin(provider="stripe", operation="checkout.create",
                               idempotency_key=key, request={...})
    if entry.status == "sent":
        return entry.response          # done before (a retry, a replayed activity): no second call
    response = await call_the_provider(...)
    await outbox.complete(key, response)

or in one line with :meth:`Outbox.once`. ``begin`` inserts a pending row; when the key is
already there (the UNIQUE constraint refuses the insert, also when two workers race) it reads
the existing row instead and counts the attempt. Two concurrent ``begin`` calls with one key
therefore leave one row. The outbox does not lock a key while a call is in flight: two racing
attempts may both call the provider, which is why the same key is also passed to providers
that take one (Stripe's ``Idempotency-Key``); what the outbox guarantees is one record and one
claimed result per key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row, Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from followthrough.metrics import record_provider_call
from followthrough.store.database import Database, SyncConnection
from followthrough.store.models import OutboxRecord
from followthrough.store.types import utcnow

OutboxStatus = Literal["pending", "sent", "failed"]
#: Checked in the transaction that opens a call's row (plain Core, run by :meth:`Database.run`):
#: raising refuses the call, recording nothing.
Guard = Callable[[SyncConnection], None]

#: The key whose row :meth:`Outbox.once` opened for the call running in this context.
_held: ContextVar[str | None] = ContextVar("followthrough_outbox_held", default=None)

#: The outbox is on the path of every provider call (three per lead in a campaign). Its
#: statements are built once, with bound parameters, and run in Core through
#: :meth:`Database.run` (one thread hop per transaction on SQLite): building a statement per
#: call and running it through an ORM session cost several times the CPU of the statements
#: themselves, and aiosqlite's hops per statement cost more than the statements again.
_T = cast(Table, OutboxRecord.__table__)
#: The columns an :class:`OutboxEntry` is read from.
_ENTRY_COLUMNS = tuple(
    _T.c[name]
    for name in (
        "provider",
        "operation",
        "idempotency_key",
        "request",
        "response",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "error",
    )
)
_INSERT = _T.insert()  # the columns come from each call's parameters
_READ = select(*_ENTRY_COLUMNS).where(_T.c.idempotency_key == bindparam("b_key"))
_NOT_SENT = (_T.c.idempotency_key == bindparam("b_key"), _T.c.status != "sent")
#: A repeated ``begin``: one attempt more, back to pending (a sent row is left alone).
_RETRY = _T.update().where(*_NOT_SENT).values(attempts=_T.c.attempts + 1, status="pending", error=None)
#: ``complete``/``fail``: the SET clause comes from each call's parameters.
_SETTLE = _T.update().where(*_NOT_SENT)


class OutboxEntry(BaseModel):
    """One recorded side effect (a snapshot; the store holds the truth)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    provider: str
    operation: str
    idempotency_key: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    status: OutboxStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    error: str | None


class OutboxKeyNotFound(KeyError):
    """``complete``/``fail`` was called for a key that ``begin`` never recorded."""


class Outbox:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def begin(
        self,
        *,
        provider: str,
        operation: str,
        idempotency_key: str,
        request: dict[str, Any],
        guard: Guard | None = None,
    ) -> OutboxEntry:
        """Record a pending call, or return the row already recorded under this key.

        A repeated key that is not yet ``sent`` counts one more attempt and goes back to
        ``pending``; a ``sent`` row is returned unchanged so the caller can reuse its response.
        ``guard`` runs first in the same transaction (a campaign's pause, read where the row is
        written): what it raises comes out of ``begin`` and nothing is recorded.
        """
        values = {
            "provider": provider,
            "operation": operation,
            "idempotency_key": idempotency_key,
            "request": request,
            "response": None,
            "status": "pending",
            "attempts": 1,
            "created_at": utcnow(),
            "sent_at": None,
            "error": None,
        }
        if await self._insert(values, guard):
            return OutboxEntry.model_validate(values)

        # The key exists (perhaps inserted a moment ago by a concurrent caller).
        def again(conn: SyncConnection) -> OutboxEntry:
            if guard is not None:
                guard(conn)
            conn.execute(_RETRY, {"b_key": idempotency_key})
            existing = _read(conn, idempotency_key)
            if existing is None:  # only if the row was deleted in between
                raise OutboxKeyNotFound(idempotency_key)
            return existing

        return await self.database.run(again)

    async def complete(self, key: str, response: dict[str, Any], opened: OutboxEntry | None = None) -> OutboxEntry:
        """Mark the call sent with the provider's response. The first response wins: completing
        a row that is already ``sent`` returns it unchanged. ``opened``: the entry ``begin``
        returned, which spares reading the row back (see :meth:`_settle`)."""
        return await self._settle(key, opened, status="sent", response=response, sent_at=utcnow(), error=None)

    async def fail(self, key: str, error: str) -> OutboxEntry:
        """Mark the call failed with a reason (a later ``begin`` with the key may retry it).
        A ``sent`` row stays sent."""
        return await self._settle(key, status="failed", error=error[:10_000])

    async def _settle(self, key: str, opened: OutboxEntry | None = None, **values: Any) -> OutboxEntry:
        """Update a row that is not yet ``sent`` and read it back, in one transaction. With the
        entry ``begin`` ``opened``, a row the update changed is not read again: it is that entry
        with these values (a snapshot, as every entry is)."""

        def settle(conn: SyncConnection) -> OutboxEntry:
            changed = conn.execute(_SETTLE, {"b_key": key, **values}).rowcount
            if opened is not None and changed == 1:
                return opened.model_copy(update=values)
            entry = _read(conn, key)
            if entry is None:
                raise OutboxKeyNotFound(key)
            return entry

        return await self.database.run(settle)

    async def record_sent(
        self, *, provider: str, operation: str, idempotency_key: str, request: dict[str, Any], response: dict[str, Any]
    ) -> bool:
        """Record a call that is already done, in one transaction; False (and the row left as it
        is) when the key is already recorded."""
        now = utcnow()
        return await self._insert(
            {
                "provider": provider,
                "operation": operation,
                "idempotency_key": idempotency_key,
                "request": request,
                "response": response,
                "status": "sent",
                "attempts": 1,
                "created_at": now,
                "sent_at": now,
            }
        )

    async def _insert(self, values: dict[str, Any], guard: Guard | None = None) -> bool:
        """Insert a new row; False when its key is already there (the UNIQUE constraint)."""

        def insert(conn: SyncConnection) -> None:
            if guard is not None:
                guard(conn)
            conn.execute(_INSERT, values)

        try:
            await self.database.run(insert)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def holds(key: str) -> bool:
        """Whether the code running now is the call of :meth:`once` under ``key`` (its row is
        open already: whoever it calls need not record that key again)."""
        return _held.get() == key

    async def get(self, key: str) -> OutboxEntry | None:
        return await self.database.run(lambda conn: _read(conn, key))

    async def entries(self, provider: str | None = None, operation: str | None = None) -> list[OutboxEntry]:
        """Recorded calls in the order they were first made, optionally for one provider/operation."""
        query = select(*_ENTRY_COLUMNS).order_by(_T.c.id)
        if provider is not None:
            query = query.where(_T.c.provider == provider)
        if operation is not None:
            query = query.where(_T.c.operation == operation)
        async with self.database.transaction() as conn:
            return [_entry(row) for row in await conn.execute(query)]

    async def counts(self) -> dict[str, int]:
        """Entries by status (``GET /metrics`` reads it at each scrape)."""
        query = select(_T.c.status, func.count()).group_by(_T.c.status)
        async with self.database.transaction() as conn:
            return {status: int(n) for status, n in await conn.execute(query)}

    async def once(
        self,
        *,
        provider: str,
        operation: str,
        idempotency_key: str,
        request: dict[str, Any],
        call: Callable[[], Awaitable[dict[str, Any]]],
        guard: Guard | None = None,
    ) -> OutboxEntry:
        """Make ``call`` at most once successfully per key: a key already sent returns its
        recorded entry without calling; a failing call is recorded as failed and re-raised.
        ``guard``: as for :meth:`begin`."""
        entry = await self.begin(
            provider=provider, operation=operation, idempotency_key=idempotency_key, request=request, guard=guard
        )
        if entry.status == "sent":
            return entry
        token = _held.set(idempotency_key)
        started = time.perf_counter()
        try:
            response = await call()
        except Exception as exc:
            record_provider_call(provider, operation, exc, time.perf_counter() - started)
            await self.fail(idempotency_key, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            _held.reset(token)
        record_provider_call(provider, operation, None, time.perf_counter() - started)
        return await self.complete(idempotency_key, response, opened=entry)


def _read(conn: SyncConnection, key: str) -> OutboxEntry | None:
    row = conn.execute(_READ, {"b_key": key}).first()
    return None if row is None else _entry(row)


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry.model_validate(row._asdict())
