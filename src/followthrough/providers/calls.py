"""What every capability activity (messaging, calendar, payments, …) does around a provider call.

* errors: a :class:`~followthrough.errors.FollowthroughError` leaves as the ApplicationError of
  the same type name (non-retryable when permanent, ``next_retry_delay`` from Retry-After);
* time: the sandboxes read the later of the wall clock and the attempt's scheduled time, so on
  the time-skipping test server a sandbox invitation is accepted once the workflow's skipped
  clock has passed the delay;
* idempotency: side effects go through :func:`followthrough.providers.idempotency.idempotent`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime

from temporalio import activity

from followthrough.errors import as_temporal_errors


def attempt_time() -> datetime:
    now = datetime.now(UTC)
    try:
        scheduled = activity.info().current_attempt_scheduled_time
    except RuntimeError:  # not in an activity
        return now
    return max(now, scheduled) if scheduled.tzinfo is not None else now


@contextmanager
def provider_call() -> Iterator[None]:
    # Imported here: this module stays light (no httpx, no store) for the activity modules
    # that workflows import for their signatures.
    from followthrough.providers.sandbox import using_time

    with as_temporal_errors(), using_time(attempt_time()):
        yield


HEARTBEAT_SECONDS = 5.0


async def _beat(every: float) -> None:
    # The first beat after ``every``: one at the start says nothing the start did not, and
    # each beat is an RPC and a write of the workflow's state on the server (a call that ends
    # within ``every``, as nearly all do, costs no beat at all).
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


@asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Heartbeat every ``every`` seconds while the block waits on a slow provider, so a stuck
    call is noticed by the heartbeat timeout instead of the (long) start-to-close timeout.
    Outside an activity (a step run inline, see ``followthrough.temporal.steps``) there is no
    one to beat to: the block just runs."""
    if not activity.in_activity():
        yield
        return
    task = asyncio.create_task(_beat(every))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
