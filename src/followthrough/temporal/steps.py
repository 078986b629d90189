"""How a process's steps reach its activities: through Temporal, or awaited in this process.

A process whose route has a ``USE_TEMPORAL_*`` flag writes its steps once, as a function of a
:class:`Steps`; its workflow runs that function with :class:`WorkflowSteps` (each step an
activity task: retried, timed out, recorded in the history) and, with the flag off, the route
runs the very same function with :class:`InlineSteps` (each step the bound activity method,
awaited once in the API process: best effort, not durable). One implementation of every step,
undo and saga; no ``ActivityEnvironment``.

Activities are named by method reference (``CalendarActivities.create_booking``), so the
argument and the result are typed and a reader jumps straight to the code.

Inline, an activity runs outside any activity context: ``activity.in_activity()`` is False,
and the helpers that would read ``activity.info()`` or heartbeat (``followthrough.providers.
calls``) do nothing there. A failure that is not already an ``ApplicationError`` leaves as one
whose type is the exception's class name, as the worker would report it, so a saga's error
handling is the same on both paths.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from followthrough.services import Services

A = TypeVar("A")
R = TypeVar("R")

#: An activity method, unbound: ``CalendarActivities.create_booking``.
Activity = Callable[[Any, A], Awaitable[R]]

#: What a step's failure may look like on either path (Temporal wraps the activity's own error).
STEP_FAILURES = (ActivityError, ChildWorkflowError, ApplicationError)


class Steps(Protocol):
    """What a process's steps need from whoever runs them."""

    @property
    def workflow_id(self) -> str:
        """The workflow's id (inline: the id the workflow would have had)."""
        ...

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]: ...

    def now(self) -> datetime: ...

    async def run(
        self,
        activity: Activity[A, R],
        arg: A,
        *,
        timeout: timedelta,
        retry: RetryPolicy,
        deadline: timedelta | None = None,
    ) -> R:
        """Run ``activity(arg)``: ``timeout`` per attempt, ``retry`` between attempts, at most
        ``deadline`` in all (Temporal's start-to-close, retry policy and schedule-to-close)."""
        ...


class WorkflowSteps:
    """Steps as activity tasks of the current workflow (call only inside a workflow)."""

    @property
    def workflow_id(self) -> str:
        return workflow.info().workflow_id

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        return workflow.logger

    def now(self) -> datetime:
        return workflow.now()

    async def run(
        self,
        activity: Activity[A, R],
        arg: A,
        *,
        timeout: timedelta,
        retry: RetryPolicy,
        deadline: timedelta | None = None,
    ) -> R:
        result: R = await workflow.execute_activity_method(
            activity,  # type: ignore[arg-type]  # the overloads spell out each arity
            arg,
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=deadline,
            retry_policy=retry,
        )
        return result


log = logging.getLogger("followthrough.inline")

M = TypeVar("M", bound="BaseModel")


class PublishedRun(Protocol):
    """An inline run as a route reports it: its id and the status it publishes (JSON)."""

    id: str
    status: dict[str, Any]


async def run_published(
    services: Services,
    run: PublishedRun,
    model: type[M],
    steps: Callable[[InlineSteps, M], Awaitable[object]],
) -> M:
    """``steps`` on :class:`InlineSteps` for ``run``, on its status read as ``model``; the state
    reached is published back to ``run.status`` whether the steps finish or fail."""
    state = model.model_validate(run.status)
    try:
        await steps(InlineSteps(services, run.id), state)
    finally:
        run.status = state.model_dump(mode="json")
    return state


class InlineSteps:
    """Steps awaited in this process: the activity classes the worker would build, built once
    each from ``services``; one attempt per step, bounded by its ``timeout``; no retries."""

    def __init__(self, services: Services, workflow_id: str) -> None:
        self._services = services
        self._workflow_id = workflow_id
        self._instances: dict[type, object] = {}

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def logger(self) -> logging.Logger:
        return log

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def run(
        self,
        activity: Activity[A, R],
        arg: A,
        *,
        timeout: timedelta,
        retry: RetryPolicy,
        deadline: timedelta | None = None,
    ) -> R:
        method = self.bound(activity)
        try:
            async with asyncio.timeout(timeout.total_seconds()):
                return await method(arg)
        except (ApplicationError, asyncio.CancelledError):
            raise
        except TimeoutError as exc:
            raise ApplicationError(f"{activity.__qualname__} took over {timeout}", type="TimeoutError") from exc
        except Exception as exc:  # as the worker reports it: the class name is the type
            raise ApplicationError(str(exc), type=type(exc).__name__) from exc

    def bound(self, activity: Activity[A, R]) -> Callable[[A], Awaitable[R]]:
        """``activity`` bound to this runner's instance of its class."""
        owner_name, _, attr = activity.__qualname__.rpartition(".")
        owner = getattr(sys.modules[activity.__module__], owner_name)
        instance = self._instances.get(owner)
        if instance is None:
            instance = self._instances[owner] = owner(self._services)
        bound: Callable[[A], Awaitable[R]] = getattr(instance, attr)
        return bound
