"""The engine's behaviour the rest of the app relies on: SQLite pragmas, foreign keys and
instants that come back aware and in UTC on every back-end."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, StatementError

from followthrough.services import Services
from followthrough.store import Database
from followthrough.store.migrate import current, heads
from followthrough.store.models import Appointment, Lead


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 30000
        await db.ping()
        assert (tmp_path / "nested" / "dir" / "store.db").is_file()  # the parent directory was made
    finally:
        await db.close()


async def test_sqlite_hot_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    inside: list[int] = []
    log: list[tuple[str, int]] = []

    async def writer(n: int) -> None:
        async with db.write_turn():
            inside.append(n)
            log.append(("in", n))
            assert len(inside) == 1, f"writers {inside} overlap"
            await asyncio.sleep(0.01)
            inside.remove(n)

    try:
        await asyncio.gather(*(writer(n) for n in range(5)))
        assert [n for kind, n in log] == [0, 1, 2, 3, 4]
    finally:
        await db.close()


async def test_a_server_database_does_not_serialize_its_writers() -> None:
    db = Database("postgresql+asyncpg://u:p@127.0.0.1:1/none")  # never connects
    inside = 0
    most = 0

    async def writer() -> None:
        nonlocal inside, most
        async with db.write_turn():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(writer() for _ in range(3)))
    assert most == 3
    await db.close()


async def test_instants_come_back_aware_in_utc_with_microseconds(database: Database) -> None:
    lead_id = f"lead-{uuid.uuid4()}"
    madrid_summer = timezone(timedelta(hours=2))
    inbound = datetime(2025, 7, 1, 10, 30, 15, 123456, tzinfo=madrid_summer)
    async with database.session() as session:
        session.add(Lead(id=lead_id, last_inbound_at=inbound))
    async with database.session() as session:
        lead = await session.get(Lead, lead_id)
    assert lead is not None and lead.last_inbound_at is not None
    assert lead.last_inbound_at.tzinfo is UTC
    assert lead.last_inbound_at == inbound
    assert lead.last_inbound_at.hour == 8 and lead.last_inbound_at.microsecond == 123456
    assert lead.created_at.tzinfo is UTC and abs(datetime.now(UTC) - lead.created_at) < timedelta(minutes=5)


async def test_a_naive_instant_is_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session() as session:
            session.add(Lead(id=f"lead-{uuid.uuid4()}", last_inbound_at=datetime(2025, 1, 1, 12, 0)))


async def test_foreign_keys_are_enforced(database: Database) -> None:
    start = datetime(2025, 1, 1, 10, tzinfo=UTC)
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Appointment(lead_id=f"missing-{uuid.uuid4()}", start_at=start, end_at=start))


async def test_a_failed_session_rolls_back_everything(database: Database) -> None:
    lead_id = f"lead-{uuid.uuid4()}"
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            session.add(Lead(id=lead_id))
            await session.flush()
            raise RuntimeError("boom")
    async with database.session() as session:
        assert await session.get(Lead, lead_id) is None


async def test_run_commits_its_work_and_rolls_it_back_when_it_raises(database: Database) -> None:
    """``Database.run`` (the hot paths' transactions) on every back-end: what the work wrote is
    there for the ORM afterwards, and nothing of a work that raised."""
    kept, dropped = f"lead-{uuid.uuid4()}", f"lead-{uuid.uuid4()}"
    leads = Lead.__table__

    def write(lead_id: str, fail: bool) -> str:
        def work(conn) -> str:  # type: ignore[no-untyped-def]
            conn.execute(leads.insert().values(id=lead_id))
            if fail:
                raise RuntimeError("boom")
            return conn.execute(text("SELECT 'back'")).scalar()

        return work

    assert await database.run(write(kept, False)) == "back"
    with pytest.raises(RuntimeError, match="boom"):
        await database.run(write(dropped, True))
    async with database.session() as session:
        assert await session.get(Lead, kept) is not None
        assert await session.get(Lead, dropped) is None
    with pytest.raises(IntegrityError):  # the driver's refusal comes out as the usual error
        await database.run(write(kept, False))


async def test_run_on_a_sqlite_file_is_one_hop_to_the_store_thread_holding_the_write_lock(tmp_path: Path) -> None:
    """On a SQLite file the whole transaction runs on the store's own thread, with the same
    pragmas as the async engine, and begins IMMEDIATE: another writer is locked out from its
    first statement on, so what it reads cannot change before it writes."""
    path = tmp_path / "store.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    seen: dict[str, object] = {}

    def work(conn) -> None:  # type: ignore[no-untyped-def]
        seen["thread"] = threading.current_thread().name
        seen["pragmas"] = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys")]
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            seen["other"] = "got the write lock"
        except sqlite3.OperationalError as exc:
            seen["other"] = str(exc)
        finally:
            other.close()

    try:
        await db.ping()  # the async engine made the file (WAL) first
        await db.run(work)
        assert str(seen["thread"]).startswith("followthrough-store")
        assert seen["pragmas"] == ["wal", 1]
        assert seen["other"] == "database is locked"
        # Once it committed, the lock is free again and the async engine sees the same file.
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        await db.run(lambda conn: conn.execute(text("INSERT INTO t VALUES (7)")))
        async with db.engine.connect() as conn:
            assert (await conn.scalar(text("SELECT x FROM t"))) == 7
    finally:
        await db.close()
    assert db._store is None  # closed: its connection was closed on its own thread


async def test_transactions_queued_together_share_one_commit_and_a_failing_one_is_undone_alone(
    tmp_path: Path,
) -> None:
    """Group commit on a SQLite file: the store thread is held by a first transaction while
    five more queue; those five then commit together (one commit, not five), each in its own
    savepoint, so the one that breaks the key is rolled back alone and its caller gets the
    error. A commit that fails (a deferred foreign key, checked at COMMIT) fails every
    transaction of its group and keeps none."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        await db.run(lambda c: c.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        assert db._store is not None
        commits: list[int] = []
        event.listen(db._store.engine, "commit", lambda conn: commits.append(1))
        gate = threading.Event()
        held = asyncio.ensure_future(db.run(lambda c: gate.wait(10)))
        await asyncio.sleep(0.05)  # the thread now runs the held transaction

        def insert(x: int):  # type: ignore[no-untyped-def]
            return lambda c: c.execute(text("INSERT INTO t VALUES (:x)"), {"x": x}).rowcount

        queued = [asyncio.ensure_future(db.run(insert(x))) for x in (1, 2, 3, 2, 4)]
        await asyncio.sleep(0.05)  # all five are queued behind it
        gate.set()
        assert await held is True
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert results[:3] == [1, 1, 1] and results[4] == 1
        assert isinstance(results[3], IntegrityError)
        assert len(commits) == 2  # the held one, then the five together
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all() == [1, 2, 3, 4]

        # A failing COMMIT: nothing of the group is kept, every caller hears of it.
        await db.run(
            lambda c: c.exec_driver_sql("CREATE TABLE child (p INTEGER REFERENCES t(x) DEFERRABLE INITIALLY DEFERRED)")
        )
        gate.clear()
        held = asyncio.ensure_future(db.run(lambda c: gate.wait(10)))
        await asyncio.sleep(0.05)
        good = asyncio.ensure_future(db.run(insert(5)))
        orphan = asyncio.ensure_future(db.run(lambda c: c.exec_driver_sql("INSERT INTO child VALUES (99)")))
        await asyncio.sleep(0.05)
        gate.set()
        await held
        outcomes = await asyncio.gather(good, orphan, return_exceptions=True)
        assert all(isinstance(o, IntegrityError) for o in outcomes), outcomes
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT max(x) FROM t"))).scalar() == 4
            assert (await conn.execute(text("SELECT count(*) FROM child"))).scalar() == 0
    finally:
        await db.close()


async def test_the_store_thread_outlives_whatever_a_transaction_raises(tmp_path: Path) -> None:
    """Even an exception that is not an ``Exception`` goes to its caller and the thread goes on:
    no later caller waits forever on a dead thread."""

    class Odd(BaseException):
        pass

    def odd(conn) -> None:  # type: ignore[no-untyped-def]
        raise Odd

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(Odd):
            await db.run(odd)
        assert await asyncio.wait_for(db.run(lambda c: c.exec_driver_sql("SELECT 7").scalar()), 5) == 7
    finally:
        await db.close()


async def test_run_on_an_in_memory_sqlite_stays_on_its_one_database() -> None:
    """An in-memory database exists only in its connection: ``run`` uses the async engine's."""
    db = Database("sqlite+aiosqlite:///:memory:")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (3)"))
        got = await db.run(lambda conn: (conn.execute(text("SELECT x FROM t")).scalar(), threading.current_thread()))
        assert got == (3, threading.current_thread())
    finally:
        await db.close()


async def test_the_services_fixture_gives_a_migrated_store_of_its_own(services: Services) -> None:
    assert await current(services.settings.effective_database_url) == heads()
    async with services.database.session() as session:
        session.add(Lead(id="only-in-this-test"))
    async with services.database.session() as session:
        assert await session.get(Lead, "only-in-this-test") is not None


async def test_each_test_gets_a_fresh_copy_of_the_template(services: Services) -> None:
    async with services.database.session() as session:
        assert await session.get(Lead, "only-in-this-test") is None
