"""InlineSteps: a process's steps awaited in this process, outside any activity context."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from followthrough.providers.calls import heartbeating
from followthrough.services import Services
from followthrough.temporal.steps import InlineSteps

ONCE = RetryPolicy(maximum_attempts=1)
SERVICES = cast(Services, object())


class Counter:
    """An activity class as the worker builds it: ``Counter(services)``."""

    built: list[Any] = []

    def __init__(self, services: Services) -> None:
        self.services = services
        self.count = 0
        Counter.built.append(services)

    @activity.defn(name="test.add")
    async def add(self, n: int) -> int:
        self.count += n
        return self.count

    @activity.defn(name="test.broken")
    async def broken(self, n: int) -> int:
        raise KeyError(n)

    @activity.defn(name="test.refused")
    async def refused(self, n: int) -> int:
        raise ApplicationError("no", type="ValidationError", non_retryable=True)

    @activity.defn(name="test.slow")
    async def slow(self, n: int) -> int:
        async with heartbeating(every=0.01):  # outside an activity: nothing to beat to
            await asyncio.sleep(n / 100)
        return n


async def test_steps_share_one_instance_of_each_activity_class_built_from_the_services() -> None:
    Counter.built.clear()
    steps = InlineSteps(SERVICES, "wf-1")
    assert await steps.run(Counter.add, 2, timeout=timedelta(seconds=1), retry=ONCE) == 2
    assert await steps.run(Counter.add, 3, timeout=timedelta(seconds=1), retry=ONCE) == 5
    assert Counter.built == [SERVICES] and steps.workflow_id == "wf-1"


async def test_a_failure_leaves_as_an_application_error_named_after_its_class() -> None:
    steps = InlineSteps(SERVICES, "wf-2")
    with pytest.raises(ApplicationError) as broken:
        await steps.run(Counter.broken, 7, timeout=timedelta(seconds=1), retry=ONCE)
    assert broken.value.type == "KeyError" and isinstance(broken.value.__cause__, KeyError)
    with pytest.raises(ApplicationError) as refused:
        await steps.run(Counter.refused, 7, timeout=timedelta(seconds=1), retry=ONCE)
    assert refused.value.type == "ValidationError"


async def test_one_attempt_is_bounded_by_the_steps_timeout_and_heartbeats_go_nowhere() -> None:
    steps = InlineSteps(SERVICES, "wf-3")
    assert await steps.run(Counter.slow, 5, timeout=timedelta(seconds=1), retry=ONCE) == 5
    with pytest.raises(ApplicationError) as late:
        await steps.run(Counter.slow, 500, timeout=timedelta(milliseconds=50), retry=ONCE)
    assert late.value.type == "TimeoutError"
