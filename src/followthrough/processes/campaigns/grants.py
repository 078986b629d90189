"""Slot requests gathered per sender, so a burst of leads never meets Temporal's update limit.

Temporal admits at most 10 in-flight updates per workflow execution; an 11th is refused with
``RESOURCE_EXHAUSTED`` and the client retries it with backoff. A window of 500 leads reaching
one sender's action at once used to be 500 ``acquire`` updates racing for those 10 places.

:class:`SlotBatcher` lives once per worker process (on its ``OutreachActivities``). Concurrent
requests for the same sender queue behind one *flight*: while an ``acquire_many`` update is in
flight, the requests that arrive wait, and when it returns they all go out in the next update
(at most :data:`~followthrough.processes.campaigns.sending_window.MAX_SLOT_BATCH` per update).
So each process has at most one update in flight per sender, whatever the burst, and the
sender's ledger stays the single writer that keeps the caps (see ``sender.py``).

A caller that is cancelled (its activity timed out) leaves its request behind: if the request
was already sent, the slot is granted and counted; the activity's retry asks again under the
same request key and the sender answers with that same slot, never a second one. A request
not yet sent is dropped from the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from followthrough.processes.campaigns.sending_window import (
    MAX_SLOT_BATCH,
    AcquireSlotsRequest,
    SenderLimits,
    SlotGrant,
    SlotGrants,
    SlotRequest,
)

#: Sends one batch to one sender's coordinator (an update-with-start in the activity).
Send = Callable[[AcquireSlotsRequest], Awaitable[SlotGrants]]


@dataclass
class BatchStats:
    """What the batcher did, for metrics and tests: updates sent, requests they carried."""

    updates: int = 0
    requests: int = 0
    largest: int = 0
    failures: int = 0

    @property
    def per_update(self) -> float:
        return self.requests / self.updates if self.updates else 0.0


@dataclass
class _Queue:
    send: Send
    limits: SenderLimits
    #: Waiting requests by key, in arrival order; one key may have several callers (a retry
    #: arriving while the first attempt still waits).
    waiting: dict[str, tuple[SlotRequest, list[asyncio.Future[SlotGrant]]]] = field(default_factory=dict)
    flight: asyncio.Task[None] | None = None


class SlotBatcher:
    """Coalesces concurrent slot requests per sender into ``acquire_many`` updates, one in flight."""

    def __init__(self, max_batch: int = MAX_SLOT_BATCH) -> None:
        if not 1 <= max_batch <= MAX_SLOT_BATCH:
            raise ValueError(f"max_batch must be between 1 and {MAX_SLOT_BATCH}")
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._queues: dict[str, _Queue] = {}

    async def acquire(self, sender: str, request: SlotRequest, limits: SenderLimits, send: Send) -> SlotGrant:
        """The grant for ``request`` from ``sender``, sent in the next batch for that sender.

        ``limits`` and ``send`` of the newest caller are the ones the next batch uses (the
        limits were just read from the store; the sender applies the newest it is given)."""
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = _Queue(send=send, limits=limits)
        else:
            queue.send, queue.limits = send, limits
        future: asyncio.Future[SlotGrant] = asyncio.get_running_loop().create_future()
        _, callers = queue.waiting.setdefault(request.request_key, (request, []))
        callers.append(future)
        if queue.flight is None:
            queue.flight = asyncio.create_task(self._fly(sender, queue))
        return await future

    async def _fly(self, sender: str, queue: _Queue) -> None:
        """Send what waits, batch after batch, until nothing does; then forget the queue."""
        try:
            while queue.waiting:
                batch = self._take(queue)
                if batch:
                    await self._send(queue, batch)
        except BaseException:  # cancelled (the worker is shutting down): nobody is left to send
            for _, callers in queue.waiting.values():
                _settle(callers, error=RuntimeError("the slot batcher stopped"))
            queue.waiting.clear()
            raise
        finally:
            queue.flight = None
            if self._queues.get(sender) is queue:
                del self._queues[sender]

    async def _send(self, queue: _Queue, batch: list[tuple[SlotRequest, list[asyncio.Future[SlotGrant]]]]) -> None:
        requests = [request for request, _ in batch]
        try:
            answer = await queue.send(AcquireSlotsRequest(requests=requests, limits=queue.limits))
        except BaseException as exc:  # every caller of the batch sees it; their retries ask again
            self.stats.failures += 1
            error = exc if isinstance(exc, Exception) else RuntimeError("the slot batcher stopped")
            for _, callers in batch:
                _settle(callers, error=error)
            if not isinstance(exc, Exception):
                raise
            return
        self.stats.updates += 1
        self.stats.requests += len(requests)
        self.stats.largest = max(self.stats.largest, len(requests))
        granted = {grant.request_key: grant for grant in answer.grants}
        for request, callers in batch:
            grant = granted.get(request.request_key)
            if grant is None:
                _settle(callers, error=RuntimeError(f"no grant for {request.request_key!r} in the answer"))
            else:
                _settle(callers, grant=grant)

    def _take(self, queue: _Queue) -> list[tuple[SlotRequest, list[asyncio.Future[SlotGrant]]]]:
        """Up to ``max_batch`` waiting requests, oldest first, without those whose callers all left."""
        batch = []
        for key in list(queue.waiting):
            request, callers = queue.waiting.pop(key)
            callers[:] = [c for c in callers if not c.done()]
            if callers:
                batch.append((request, callers))
                if len(batch) == self.max_batch:
                    break
        return batch


def _settle(
    callers: list[asyncio.Future[SlotGrant]], *, grant: SlotGrant | None = None, error: Exception | None = None
) -> None:
    for caller in callers:
        if caller.done():  # cancelled while the batch was in flight: its retry gets the slot back
            continue
        if error is not None:
            caller.set_exception(error)
        else:
            caller.set_result(grant)  # type: ignore[arg-type]
