"""The saga helper on plain asyncio: the same code runs in workflows and on the inline path."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from followthrough.temporal.saga import Saga, describe


def recorder(log: list[str], name: str, fail: BaseException | None = None):  # type: ignore[no-untyped-def]
    async def undo() -> None:
        log.append(name)
        if fail is not None:
            raise fail

    return undo


async def test_undos_run_last_first_and_only_those_registered() -> None:
    log: list[str] = []
    saga: Saga[str] = Saga()
    for name in ("a", "b", "c"):
        saga.add(name, recorder(log, name))
    assert saga.pending == ["c", "b", "a"]
    assert await saga.compensate() == ["c", "b", "a"]
    assert log == ["c", "b", "a"] and saga.failures == [] and saga.pending == []


async def test_a_failing_undo_is_recorded_and_the_next_still_runs() -> None:
    log: list[str] = []
    saga: Saga[str] = Saga()
    saga.add("a", recorder(log, "a"))
    saga.add("b", recorder(log, "b", ApplicationError("store down", type="RetryableError")))
    saga.add("c", recorder(log, "c"))
    assert await saga.compensate() == ["c", "a"]
    assert log == ["c", "b", "a"]
    assert saga.failures == ["b: RetryableError: store down"]


async def test_the_caller_list_follows_progress_and_on_undo_sees_each_start() -> None:
    shown: list[str] = []
    started: list[str] = []
    saga: Saga[str] = Saga(compensated=shown, on_undo=started.append)
    seen_during: list[list[str]] = []

    async def look() -> None:
        seen_during.append(list(shown))

    saga.add("first", look)
    saga.add("second", recorder([], "second"))
    await saga.compensate()
    assert started == ["second", "first"] and shown == ["second", "first"]
    assert seen_during == [["second"]]  # the first undo was already shown done while the next ran


async def test_a_cancellation_during_compensation_waits_for_every_undo_then_is_raised() -> None:
    log: list[str] = []
    gate = asyncio.Event()
    saga: Saga[str] = Saga()

    async def slow() -> None:
        await gate.wait()
        log.append("slow")

    saga.add("a", recorder(log, "a"))
    saga.add("slow", slow)
    task = asyncio.create_task(saga.compensate())
    await asyncio.sleep(0)
    task.cancel()  # a second cancel request while undoing
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done() and log == []
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["slow", "a"] and saga.compensated == ["slow", "a"]


def test_describe_reads_the_application_error_behind_temporals_wrappers() -> None:
    cause = ApplicationError("refused", type="ValidationError", non_retryable=True)
    wrapped = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="calendar.create_booking",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = cause
    assert describe(wrapped) == ("refused", "ValidationError")
    assert describe(KeyError("x")) == ("'x'", "KeyError")
