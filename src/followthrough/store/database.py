"""The async engine and session factory, one per process."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from followthrough.store.writer import StoreThread

#: Any failure of the store (unreachable, refused, a malformed URL …): what a caller outside
#: ``store/`` catches to answer 503 or one line on stderr.
StoreError = SQLAlchemyError
#: A Core connection in a transaction, as :meth:`Database.transaction` yields it.
StoreConnection = AsyncConnection
#: A plain (sync) Core connection in a transaction, as :meth:`Database.run` hands it to its work.
SyncConnection = Connection
#: The database itself refused a statement or the connection (``.orig`` is the driver's error).
StoreRefused = DBAPIError

T = TypeVar("T")


class StoreUnavailable(SQLAlchemyError):
    """The store's server could not be reached (refused, unresolvable, timed out): worth trying
    again later. The drivers raise a bare ``OSError`` there, which said nothing of the store."""


#: What says the store cannot serve now but may later: unreachable, locked past its busy
#: timeout, a connection dropped, no pooled connection free (the API answers 503).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (StoreUnavailable, OperationalError, InterfaceError, PoolTimeout)


def shown_url(url: str) -> str:
    """The URL with its password hidden, fit for a message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<unparseable DATABASE_URL>"


def sqlite_path(url: str) -> str | None:
    """Where a SQLite URL keeps its data: the file's path as written, ``:memory:`` for an
    in-memory database; None for another back-end or a malformed URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return ":memory:"
    return database


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, object] = {"echo": echo}
        if self.dialect != "sqlite":
            # A server may drop a pooled connection (restart, idle timeout): test it at checkout.
            # A SQLite file cannot drop one, and the ping was a statement more per transaction.
            kwargs["pool_pre_ping"] = True
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Several activities write at once: wait for the lock instead of failing at once.
            kwargs["connect_args"] = {"timeout": 30}
        elif self.dialect in ("mysql", "mariadb"):
            # MariaDB closes connections idle past wait_timeout (8 h by default): renew them first.
            kwargs["pool_recycle"] = 3600
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "do_connect", _connect_or_unavailable)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        #: On a SQLite file, :meth:`run` hands its transactions to a thread of the store's own
        #: (made at first use); not in memory, where another connection opens another, empty,
        #: database.
        self._threaded = self.dialect == "sqlite" and sqlite_path(url) != ":memory:"
        self._store: StoreThread | None = None
        self._write_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """On SQLite, one hot-path writer of this process at a time, in arrival order; elsewhere
        nothing. SQLite has one write lock: writers that find it taken sleep in its busy handler
        (up to 100 ms a nap) and wake in no order, which made the tail of a burst of webhook
        writes hundreds of milliseconds; queued here, each waits only for those before it."""
        if self.dialect != "sqlite":
            yield
            return
        loop = asyncio.get_running_loop()
        turn = self._write_turns.get(loop)
        if turn is None:
            turn = self._write_turns[loop] = asyncio.Lock()
        async with turn:
            yield

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction (no ORM session): committed on success, rolled
        back on error. For plain statements off the per-lead paths (those use :meth:`run`),
        where a session's unit of work would cost more than the statements."""
        async with self.engine.begin() as conn:
            yield conn

    async def run(self, work: Callable[[SyncConnection], T]) -> T:
        """``work(conn)`` in a transaction: committed when it returns, rolled back when it
        raises. For the hot paths (the outbox, a lead's record, its plan): ``work`` is plain
        Core on a sync connection, so the same function serves every back-end.

        On a SQLite file the whole transaction runs on this store's own thread, with the sync
        driver (:mod:`followthrough.store.writer`): one thread hop per transaction, where
        aiosqlite makes three or four per statement (a cursor, the statement, the rows, the
        cursor closed, each a hop through its thread), and one writer in this process instead
        of pooled connections meeting on SQLite's write lock: an outbox call cost 3.1 ms of CPU
        that way and 1.1 ms this way, ten at once 5.6 ms each and 1.1 ms
        (``docs/BENCHMARKS.md``). The transactions queued at once share one commit (each in
        a savepoint: one that raises is rolled back alone), which begins IMMEDIATE: what
        ``work`` reads (a campaign's pause) cannot change before it writes. Elsewhere it runs
        on the async engine through ``run_sync`` (greenlets; no thread)."""
        if not self._threaded:
            async with self.transaction() as conn:
                return await conn.run_sync(work)
        if self._store is None:
            from followthrough.store.writer import StoreThread

            self._store = StoreThread(self.url, _sqlite_pragmas)
        return await self._store.run(work)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def has_table(self, name: str) -> bool:
        """Whether the table exists (a store not migrated yet has none)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(lambda c: inspect(c).has_table(name))

    async def close(self) -> None:
        await self.engine.dispose()
        if self._store is not None:  # its connection belongs to its thread: closed there
            store, self._store = self._store, None
            await store.close()


def _connect_or_unavailable(dialect, _record, cargs, cparams):  # type: ignore[no-untyped-def]
    """Open a server connection; a network failure becomes :class:`StoreUnavailable`."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # ConnectionRefusedError, socket.gaierror, TimeoutError
        raise StoreUnavailable(f"the store cannot be reached: {type(exc).__name__}: {exc}") from exc


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
