"""heartbeating(): beats while a slow call waits, and not at all for a call that is quick."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from followthrough.providers.calls import heartbeating


@activity.defn(name="test.waits")
async def waits(seconds: float) -> str:
    async with heartbeating(every=0.1):
        await asyncio.sleep(seconds)
    return "done"


def beats_of(seconds: float) -> list[object]:
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    assert asyncio.run(env.run(waits, seconds)) == "done"
    return beats


def test_a_call_that_ends_before_the_first_interval_sends_no_heartbeat() -> None:
    # Each beat is an RPC and a write on the server: a quick call (nearly all) costs none.
    assert beats_of(0.02) == []


def test_a_slow_call_beats_once_per_interval_while_it_waits() -> None:
    assert 3 <= len(beats_of(0.45)) <= 4


async def test_the_beat_stops_when_the_block_ends() -> None:
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(waits, 0.25)
    count = len(beats)
    await asyncio.sleep(0.3)
    assert count >= 1 and len(beats) == count
