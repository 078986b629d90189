"""The per-process batcher of slot requests, on its own (no server): one update in flight per
sender, the rest gathered into the next one, each caller answered with its own grant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.processes.campaigns.grants import SlotBatcher
from followthrough.processes.campaigns.graph import ActionType
from followthrough.processes.campaigns.sending_window import (
    AcquireSlotsRequest,
    SenderLimits,
    SlotGrant,
    SlotGrants,
    SlotRequest,
)
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.processes.campaigns.steps import AcquireSlotInput
from followthrough.services import Services
from tests.processes.campaigns.outreach_support import seed

LIMITS = SenderLimits()
AT = datetime(2030, 1, 7, 9, tzinfo=UTC)


def req(key: str) -> SlotRequest:
    return SlotRequest(request_key=key, action=ActionType.PROFILE_VISIT, not_before=AT)


class FakeSender:
    """Answers each batch after a pause, recording the batches and how many were in flight."""

    def __init__(self, pause: float = 0.01, fail_first: int = 0) -> None:
        self.pause, self.fail_first = pause, fail_first
        self.batches: list[list[str]] = []
        self.in_flight = self.most_in_flight = 0

    async def send(self, batch: AcquireSlotsRequest) -> SlotGrants:
        self.batches.append([r.request_key for r in batch.requests])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.pause)
            if len(self.batches) <= self.fail_first:
                raise ConnectionError("server unavailable")
        finally:
            self.in_flight -= 1
        return SlotGrants(
            grants=[
                SlotGrant(request_key=r.request_key, action=r.action, at=AT, day="2030-01-07", week="2030-W02")
                for r in batch.requests
            ]
        )


async def test_a_burst_is_one_update_in_flight_and_the_rest_gathered_behind_it() -> None:
    batcher, sender = SlotBatcher(), FakeSender()
    keys = [f"lead-{i}" for i in range(250)]
    grants = await asyncio.gather(*(batcher.acquire("sender-a", req(k), LIMITS, sender.send) for k in keys))
    assert [g.request_key for g in grants] == keys  # each caller gets its own grant
    assert sender.most_in_flight == 1
    assert [len(b) for b in sender.batches] == [100, 100, 50]  # in order, at most 100 an update
    assert [k for b in sender.batches for k in b] == keys
    assert (batcher.stats.updates, batcher.stats.requests, batcher.stats.largest) == (3, 250, 100)


async def test_each_sender_has_its_own_flight() -> None:
    batcher, first, second = SlotBatcher(), FakeSender(pause=0.05), FakeSender(pause=0.05)
    await asyncio.gather(
        batcher.acquire("sender-a", req("a"), LIMITS, first.send),
        batcher.acquire("sender-b", req("b"), LIMITS, second.send),
    )
    assert first.batches == [["a"]] and second.batches == [["b"]]
    assert batcher.stats.updates == 2


async def test_a_request_asked_twice_while_waiting_goes_out_once_and_both_get_its_slot() -> None:
    batcher, sender = SlotBatcher(), FakeSender()
    answers = await asyncio.gather(*(batcher.acquire("s", req(k), LIMITS, sender.send) for k in ["x", "y", "y"]))
    assert answers[1] == answers[2]
    assert sender.batches == [["x", "y"]]


async def test_a_caller_that_left_before_its_batch_went_out_is_not_sent() -> None:
    batcher, sender = SlotBatcher(), FakeSender(pause=0.05)
    first = asyncio.create_task(batcher.acquire("s", req("first"), LIMITS, sender.send))
    await asyncio.sleep(0)  # "first" is in flight
    gone = asyncio.create_task(batcher.acquire("s", req("gone"), LIMITS, sender.send))
    kept = asyncio.create_task(batcher.acquire("s", req("kept"), LIMITS, sender.send))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await kept).request_key == "kept" and (await first).request_key == "first"
    assert sender.batches == [["first"], ["kept"]]


async def test_a_failed_update_fails_its_callers_and_the_next_batch_still_goes_out() -> None:
    batcher, sender = SlotBatcher(), FakeSender(pause=0.02, fail_first=1)
    first = asyncio.create_task(batcher.acquire("s", req("first"), LIMITS, sender.send))
    await asyncio.sleep(0)
    later = asyncio.create_task(batcher.acquire("s", req("later"), LIMITS, sender.send))
    with pytest.raises(ConnectionError):
        await first
    assert (await later).request_key == "later"
    # the retry of the failed request asks again and is answered
    assert (await batcher.acquire("s", req("first"), LIMITS, sender.send)).request_key == "first"
    assert batcher.stats.failures == 1 and sender.batches == [["first"], ["later"], ["first"]]


def test_a_batch_is_at_most_what_one_update_may_carry() -> None:
    with pytest.raises(ValueError):
        SlotBatcher(max_batch=101)


async def test_the_activity_refuses_a_naive_instant_before_any_batch(services: Services) -> None:
    seeded = await seed(services, {"nodes": [{"id": "z", "kind": "end"}], "edges": []}, account={})
    outreach = OutreachActivities(services)
    naive = AcquireSlotInput(account_id=seeded.account_id, request_key="k", action="profile_visit", not_before=AT)
    naive.not_before = AT.replace(tzinfo=None)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(outreach.acquire_slot, naive)
    assert refused.value.type == "ValidationError" and refused.value.non_retryable
    assert outreach.slot_batches.stats.updates == 0
