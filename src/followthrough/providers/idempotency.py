"""At most one successful provider call per idempotency key, through the outbox.

Every side-effecting activity goes through :func:`idempotent`::

    entry = outbox.begin(...)        # a pending row, or the row already there
    if entry.status == "sent":       # done before (activity retry, twin workflow, replay)
        return recorded response     # the provider is not called again
    response = await call()          # the key is also passed to providers that take one
    outbox.complete(key, response)   # on error: outbox.fail(key, reason), then re-raise

The request and response are stored as JSON (the pydantic models' ``mode="json"`` dump), so a
recorded result comes back as the same result model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:  # the outbox comes from the caller: importing this module loads no store
    from followthrough.store.outbox import Guard, Outbox

R = TypeVar("R", bound=BaseModel)


async def idempotent(
    outbox: Outbox,
    *,
    provider: str,
    operation: str,
    key: str,
    request: BaseModel | dict[str, Any],
    result_type: type[R],
    call: Callable[[], Awaitable[R]],
    guard: Guard | None = None,
) -> R:
    """Run ``call`` unless ``key`` was already sent; return its (recorded) result. ``guard`` is
    checked where the call's row is opened (see :meth:`Outbox.begin`)."""

    async def run() -> dict[str, object]:
        return (await call()).model_dump(mode="json")

    entry = await outbox.once(
        provider=provider,
        operation=operation,
        idempotency_key=key,
        request=request.model_dump(mode="json") if isinstance(request, BaseModel) else request,
        call=run,
        guard=guard,
    )
    return result_type.model_validate(entry.response or {})
