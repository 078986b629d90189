"""The store's own thread on a SQLite file: :meth:`Database.run`'s transactions, group-committed.

SQLite has one writer at a time and, on a disk, an fsync per commit. The hot paths (the outbox,
a lead's record and plan) come as small transactions from many activities at once; each used to
make three or four hops per statement through aiosqlite's thread and wait its turn on the write
lock. Here each is a plain function of a sync Core connection, queued to one thread that holds
one connection. The thread takes every transaction queued at that moment and runs them in one
``BEGIN IMMEDIATE`` … ``COMMIT``, each inside a SAVEPOINT of its own: one that raises is rolled
back alone (its caller gets the exception), the others commit together, with one fsync. A
caller's future resolves only after the commit, so nothing is reported done before it is
durable; a failed commit fails every transaction of the group, and none of them is kept.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

T = TypeVar("T")

#: At most this many transactions share one commit (a burst beyond it takes several).
GROUP_LIMIT = 64

_Item = tuple[Callable[[Connection], Any], asyncio.Future[Any]]
_STOP = object()


class StoreThread:
    """One thread, one sync SQLite connection, transactions group-committed in arrival order."""

    def __init__(self, url: str, pragmas: Callable[[Any, Any], None]) -> None:
        #: The sync (pysqlite) engine on the same file as the async one. Its connections are
        #: made and closed on the thread only.
        self.engine = _sqlite_sync_engine(url, pragmas)
        self._queue: SimpleQueue[_Item | object] = SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="followthrough-store", daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((work, future))
        return await future

    async def close(self) -> None:
        """Run what is queued, close the connection, end the thread."""
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # --- on the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group: list[_Item] = [first]  # type: ignore[list-item]
                stop = False
                while len(group) < GROUP_LIMIT:
                    try:
                        item = self._queue.get_nowait()
                    except Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    group.append(item)  # type: ignore[arg-type]
                _settle(group, self._commit(group))
                if stop:
                    return
        finally:
            self.engine.dispose()

    def _commit(self, group: list[_Item]) -> list[tuple[bool, Any]]:
        """Run the group in one transaction; what each work returned or raised."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.engine.begin() as conn:
                if len(group) == 1:
                    outcomes.append((True, group[0][0](conn)))
                else:
                    for work, _ in group:
                        try:
                            with conn.begin_nested():
                                outcomes.append((True, work(conn)))
                        except BaseException as exc:  # noqa: BLE001 - its caller gets it, the others go on
                            outcomes.append((False, exc))
        except BaseException as exc:  # noqa: BLE001 - the BEGIN, the commit or a lone work failed: all fail
            # Whatever it is, it goes to the callers: the thread lives on, no caller waits forever.
            return [(False, exc)] * len(group)
        return outcomes


def _settle(group: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
    """Hand each caller its outcome on its own loop, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for (_, future), (ok, value) in zip(group, outcomes, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, ok, value))
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, results)
        except RuntimeError:  # that loop is closed: nobody waits on it any more
            pass


def _resolve(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _sqlite_sync_engine(url: str, pragmas: Callable[[Any, Any], None]) -> Engine:
    """The sync engine: the async engine's pragmas, and transactions that begin IMMEDIATE (the
    driver's own implicit BEGIN is turned off, so SQLAlchemy's begin is the only one, and
    SAVEPOINTs work)."""
    engine = create_engine(make_url(url).set(drivername="sqlite"), connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
