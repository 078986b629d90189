"""The outbox on every back-end: one row per idempotency key, whatever the timing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC

import pytest

from followthrough.store import Database
from followthrough.store.outbox import Outbox, OutboxKeyNotFound


def key() -> str:
    return f"test:{uuid.uuid4()}"


async def test_begin_records_a_pending_entry(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    entry = await outbox.begin(provider="whatsapp", operation="send", idempotency_key=k, request={"to": "+34600000000"})
    assert (entry.status, entry.attempts, entry.request, entry.response) == ("pending", 1, {"to": "+34600000000"}, None)
    assert entry.created_at.tzinfo is UTC and entry.sent_at is None
    assert await outbox.get(k) == entry


async def test_begin_twice_returns_the_first_row_and_counts_the_attempt(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    await outbox.begin(provider="stripe", operation="checkout", idempotency_key=k, request={"amount": 1000})
    again = await outbox.begin(provider="stripe", operation="checkout", idempotency_key=k, request={"amount": 9})
    assert again.request == {"amount": 1000}  # the first request is the record
    assert again.attempts == 2


async def test_concurrent_begins_with_one_key_leave_one_row(database: Database) -> None:
    outbox = Outbox(database)
    k, provider = key(), f"p-{uuid.uuid4().hex[:8]}"
    entries = await asyncio.gather(
        *(outbox.begin(provider=provider, operation="send", idempotency_key=k, request={"n": i}) for i in range(4))
    )
    rows = await outbox.entries(provider=provider)
    assert len(rows) == 1
    assert sorted(e.attempts for e in entries) == [1, 2, 3, 4]
    assert rows[0].attempts == 4


async def test_complete_marks_sent_and_the_first_response_wins(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    await outbox.begin(provider="calcom", operation="create_booking", idempotency_key=k, request={})
    done = await outbox.complete(k, {"booking_id": "b-1"})
    assert (done.status, done.response, done.error) == ("sent", {"booking_id": "b-1"}, None)
    assert done.sent_at is not None and done.sent_at.tzinfo is UTC and done.sent_at >= done.created_at
    later = await outbox.complete(k, {"booking_id": "b-2"})
    assert later.response == {"booking_id": "b-1"}


async def test_begin_after_sent_returns_the_recorded_response_unchanged(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    await outbox.begin(provider="stripe", operation="checkout", idempotency_key=k, request={})
    sent = await outbox.complete(k, {"session_id": "cs_1"})
    again = await outbox.begin(provider="stripe", operation="checkout", idempotency_key=k, request={})
    assert again == sent  # status sent, attempts not counted: nothing is called again


async def test_fail_records_the_error_and_a_later_begin_retries(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    await outbox.begin(provider="hubspot", operation="upsert", idempotency_key=k, request={})
    failed = await outbox.fail(k, "RetryableError: 503")
    assert (failed.status, failed.error) == ("failed", "RetryableError: 503")
    retry = await outbox.begin(provider="hubspot", operation="upsert", idempotency_key=k, request={})
    assert (retry.status, retry.attempts, retry.error) == ("pending", 2, None)


async def test_fail_does_not_undo_a_sent_entry(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    await outbox.begin(provider="meta", operation="event", idempotency_key=k, request={})
    await outbox.complete(k, {"events_received": 1})
    assert (await outbox.fail(k, "late timeout")).status == "sent"


async def test_complete_or_fail_of_an_unknown_key_raises(database: Database) -> None:
    outbox = Outbox(database)
    with pytest.raises(OutboxKeyNotFound):
        await outbox.complete(key(), {})
    with pytest.raises(OutboxKeyNotFound):
        await outbox.fail(key(), "x")
    assert await outbox.get(key()) is None


async def test_entries_filter_by_provider_and_operation_in_call_order(database: Database) -> None:
    outbox = Outbox(database)
    provider = f"p-{uuid.uuid4().hex[:8]}"
    keys = [key() for _ in range(3)]
    for k, op in zip(keys, ["send", "template", "send"], strict=True):
        await outbox.begin(provider=provider, operation=op, idempotency_key=k, request={})
    assert [e.idempotency_key for e in await outbox.entries(provider=provider)] == keys
    assert [e.idempotency_key for e in await outbox.entries(provider=provider, operation="send")] == [keys[0], keys[2]]


async def test_once_calls_the_provider_once_per_key(database: Database) -> None:
    outbox = Outbox(database)
    k, calls = key(), []

    async def call() -> dict[str, str]:
        calls.append(1)
        return {"message_id": "wamid.1"}

    first = await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={}, call=call)
    second = await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={}, call=call)
    assert first.response == second.response == {"message_id": "wamid.1"}
    assert len(calls) == 1


async def test_once_records_a_failing_call_and_reraises(database: Database) -> None:
    outbox = Outbox(database)
    k = key()

    async def boom() -> dict[str, str]:
        raise TimeoutError("provider timed out")

    with pytest.raises(TimeoutError):
        await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={}, call=boom)
    entry = await outbox.get(k)
    assert entry is not None and (entry.status, entry.error) == ("failed", "TimeoutError: provider timed out")


async def test_record_sent_writes_a_done_call_once_and_leaves_an_existing_row(database: Database) -> None:
    outbox = Outbox(database)
    k = key()
    assert await outbox.record_sent(
        provider="sandbox:linkedin", operation="invitation", idempotency_key=k, request={"a": 1}, response={"a": 1}
    )
    entry = await outbox.get(k)
    assert entry is not None
    assert (entry.status, entry.attempts, entry.request, entry.response) == ("sent", 1, {"a": 1}, {"a": 1})
    assert entry.sent_at is not None and entry.sent_at.tzinfo is UTC
    again = await outbox.record_sent(
        provider="sandbox:linkedin", operation="invitation", idempotency_key=k, request={"a": 2}, response={"a": 2}
    )
    assert again is False
    assert await outbox.get(k) == entry  # the first record stands


async def test_once_holds_its_key_only_while_its_call_runs(database: Database) -> None:
    outbox = Outbox(database)
    k, other, seen = key(), key(), []

    async def call() -> dict[str, bool]:
        seen.append((Outbox.holds(k), Outbox.holds(other)))
        return {}

    assert not Outbox.holds(k)
    await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={}, call=call)
    assert seen == [(True, False)]
    assert not Outbox.holds(k)  # released after the call, also for the next one in this task


async def test_once_returns_the_entry_the_store_holds(database: Database) -> None:
    # once() builds its answer from the row it opened instead of reading the row back.
    outbox = Outbox(database)
    k = key()

    async def call() -> dict[str, str]:
        return {"message_id": "wamid.2"}

    done = await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={"to": "x"}, call=call)
    assert (done.status, done.response, done.attempts, done.error) == ("sent", {"message_id": "wamid.2"}, 1, None)
    assert done == await outbox.get(k)


async def test_once_after_a_concurrent_completion_returns_the_first_response(database: Database) -> None:
    outbox = Outbox(database)
    k = key()

    async def call() -> dict[str, str]:
        await outbox.complete(k, {"message_id": "first"})  # a twin attempt finished meanwhile
        return {"message_id": "second"}

    done = await outbox.once(provider="whatsapp", operation="send", idempotency_key=k, request={}, call=call)
    assert done.response == {"message_id": "first"} and done == await outbox.get(k)


async def test_a_refusing_guard_records_nothing_and_calls_nothing(database: Database) -> None:
    from sqlalchemy import text

    outbox = Outbox(database)
    k, calls, reads = key(), [], []

    class Refused(Exception):
        pass

    def guard(conn) -> None:  # type: ignore[no-untyped-def]
        reads.append(conn.execute(text("SELECT 1")).scalar())  # it reads in the transaction
        raise Refused

    async def call() -> dict[str, str]:
        calls.append(1)
        return {}

    with pytest.raises(Refused):
        await outbox.once(provider="linkedin", operation="visit", idempotency_key=k, request={}, call=call, guard=guard)
    assert await outbox.get(k) is None and calls == [] and reads == [1]

    # A key already recorded (failed once): the guard refuses a retry too, and the row is left as it was.
    async def boom() -> dict[str, str]:
        raise TimeoutError("down")

    with pytest.raises(TimeoutError):
        await outbox.once(provider="linkedin", operation="visit", idempotency_key=k, request={}, call=boom)
    before = await outbox.get(k)
    with pytest.raises(Refused):
        await outbox.once(provider="linkedin", operation="visit", idempotency_key=k, request={}, call=call, guard=guard)
    assert await outbox.get(k) == before and calls == []


async def test_a_passing_guard_lets_the_call_through(database: Database) -> None:
    outbox = Outbox(database)
    k = key()

    def guard(conn) -> None:  # type: ignore[no-untyped-def]
        return None

    async def call() -> dict[str, str]:
        return {"ok": "yes"}

    done = await outbox.once(
        provider="linkedin", operation="visit", idempotency_key=k, request={}, call=call, guard=guard
    )
    assert done.response == {"ok": "yes"} and (await outbox.get(k)) == done
