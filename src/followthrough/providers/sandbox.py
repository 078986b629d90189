"""What every sandbox client shares: the outbox record, seeded faults, state and a clock.

A sandbox client answers like its service (ids, URLs, statuses) without leaving the machine.
Each side-effecting call is recorded in the outbox under its idempotency key (when the
activity layer has already opened that row, the row is left to it: one row per key). State a
later call needs (a checkout to complete, an invitation to accept) is kept in the outbox too,
under ``sandbox:`` keys, so it survives restarts and is shared by the API and worker processes.

Faults (``FOLLOWTHROUGH_SANDBOX_FAULTS``) are decided by a hash of the seed, the operation, the
idempotency key and the attempt number, so a run repeats whatever the interleaving of calls.

Time: ``sandbox_now()`` is the wall clock unless :func:`using_time` says otherwise; activities
set it to the Temporal attempt time, so with the time-skipping test server a sandbox invitation
is accepted once the workflow's (skipped) clock has passed the delay.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from followthrough.errors import RetryableError
from followthrough.providers.http import error_for_status
from followthrough.providers.selection import Fault
from followthrough.store.outbox import Outbox

R = TypeVar("R", bound=BaseModel)

_now: ContextVar[datetime | None] = ContextVar("followthrough_sandbox_now", default=None)


def sandbox_now() -> datetime:
    return _now.get() or datetime.now(UTC)


@contextmanager
def using_time(when: datetime | None) -> Iterator[None]:
    """Make the sandboxes' clock read ``when`` inside the block (None = the wall clock)."""
    token = _now.set(when)
    try:
        yield
    finally:
        _now.reset(token)


def stable_id(*parts: str, length: int = 24) -> str:
    """An id derived from its inputs: the same idempotency key answers the same id."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


#: How many calls, and how many keys' attempt counts, a sandbox keeps in memory. A worker on the
#: embedded defaults runs on sandboxes for as long as it lives: kept without a bound they grew
#: ~1.7 kB per lead over a 100,000-lead campaign (228 to 397 MB of worker RSS).
KEPT_CALLS = 10_000


class Sandbox:
    """Shared by all sandbox clients of one process."""

    def __init__(self, outbox: Outbox, faults: list[Fault] | None = None, seed: int = 0) -> None:
        self.outbox = outbox
        self.faults = list(faults or [])
        self.seed = seed
        #: Attempts per (provider, operation, key), counted only when faults are set: the
        #: oldest key is forgotten past KEPT_CALLS keys (a call retried after that many others
        #: draws its faults again from attempt 1).
        self._attempts: dict[tuple[str, str, str], int] = {}
        #: The last KEPT_CALLS calls, in order: (provider, operation, request). Tests count these.
        self.calls: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=KEPT_CALLS)

    def now(self) -> datetime:
        return sandbox_now()

    def enter(self, provider: str, operation: str, key: str | None, request: dict[str, Any]) -> None:
        """Count the call and raise the injected fault, if this attempt draws one."""
        self.calls.append((provider, operation, request))
        if not self.faults:
            return
        attempt_key = (provider, operation, key or "")
        attempt = self._attempts.pop(attempt_key, 0) + 1
        self._attempts[attempt_key] = attempt  # re-inserted: the dict's order is last use
        if len(self._attempts) > KEPT_CALLS:
            del self._attempts[next(iter(self._attempts))]
        for fault in self.faults:
            if not fault.matches(provider, operation):
                continue
            digest = hashlib.sha256(f"{self.seed}|{provider}.{operation}|{key or ''}|{attempt}".encode()).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 < fault.probability:
                raise self._fault_error(fault, operation)

    @staticmethod
    def _fault_error(fault: Fault, operation: str) -> Exception:
        what = f"sandbox fault injected in {fault.provider}.{operation} (FOLLOWTHROUGH_SANDBOX_FAULTS)"
        if fault.status is None:
            return RetryableError(f"{fault.provider} timed out: {what}", provider=fault.provider)
        headers = {"retry-after": "1"} if fault.status == 429 else {}
        return error_for_status(fault.provider, fault.status, what, headers)

    async def record(
        self, provider: str, operation: str, key: str, request: dict[str, Any], response: dict[str, Any]
    ) -> None:
        """Write the call to the outbox unless a row under ``key`` exists: the activity's own
        (opened by :meth:`Outbox.once` around this very call, so not even looked up) or an
        earlier one (left as it is)."""
        if self.outbox.holds(key):
            return
        await self.outbox.record_sent(
            provider=provider, operation=operation, idempotency_key=key, request=request, response=response
        )

    async def put_state(self, provider: str, kind: str, ident: str, data: dict[str, Any]) -> None:
        """Remember a fact (first write wins, like the service's own records)."""
        key = f"sandbox:{provider}:{kind}:{ident}"
        recorded = await self.outbox.record_sent(
            provider=f"sandbox:{provider}", operation=kind, idempotency_key=key, request=data, response=data
        )
        if not recorded:  # already there: only a row left pending (by an older version) takes it
            await self.outbox.complete(key, data)

    async def get_state(self, provider: str, kind: str, ident: str) -> dict[str, Any] | None:
        entry = await self.outbox.get(f"sandbox:{provider}:{kind}:{ident}")
        if entry is None or entry.status != "sent":
            return None
        return entry.response

    async def side_effect(
        self,
        provider: str,
        operation: str,
        key: str,
        request: BaseModel | dict[str, Any],
        respond: Callable[[], Awaitable[R]],
    ) -> R:
        """The common shape of a sandboxed write: fault draw, answer, outbox record."""
        payload = request.model_dump(mode="json") if isinstance(request, BaseModel) else request
        self.enter(provider, operation, key, payload)
        result = await respond()
        await self.record(provider, operation, key, payload, result.model_dump(mode="json"))
        return result
