"""A saga's compensations: registered as each step succeeds, run last first, never interrupted.

The one pattern the booking, deployment and onboarding processes share::

    saga = Saga()
    try:
        booking = await steps.run(CalendarActivities.create_booking, ...)
        saga.add("cancel_calendar_booking", lambda: steps.run(CalendarActivities.cancel_booking, ...))
        ...
    except BaseException as err:
        if not (is_cancelled_exception(err) or isinstance(err, STEP_FAILURES)):
            raise
        await saga.compensate()  # last first; a cancellation cannot interrupt it
        if is_cancelled_exception(err):
            raise  # the workflow still closes as cancelled
        ...  # report the failed step, saga.compensated and saga.failures

:meth:`Saga.compensate` is plain asyncio, so it behaves the same in a workflow (on Temporal's
deterministic event loop) and on the API's inline path (see :mod:`followthrough.temporal.steps`):

* **shielded**: the undos run in a task of their own that the caller waits for with
  ``asyncio.wait`` (which, unlike awaiting the task, never cancels it). A cancellation that
  arrives meanwhile (a second cancel request, an inline run cancelled by a reply) is held until
  every undo is done, then raised. ``asyncio.wait`` rather than ``asyncio.shield``: the SDK's
  own cancellation loops moved away from ``shield``, whose done-callback logs a spurious
  "exception in shielded future" once the outer task was cancelled (sdk-python#1600).
* **each failure recorded**: an undo that fails for good (in a workflow, after its
  ``COMPENSATION_RETRY`` of about a day) is listed in :attr:`Saga.failures` with its error and
  the next undo still runs: an operator finishes by hand exactly what is listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

Undo = Callable[[], Awaitable[Any]]
#: How a saga names its undos (a ``Literal`` of them, or ``str``).
N = TypeVar("N", bound=str)


def failure_of(err: BaseException) -> BaseException:
    """The error behind Temporal's wrappers: an activity's or child's own ApplicationError."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    return err


def describe(err: BaseException) -> tuple[str, str]:
    """``(message, type)`` of a step's failure, as results report it: the ApplicationError's
    message and type name (``ValidationError``…), else the exception's text and class name."""
    cause = failure_of(err)
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type or type(cause).__name__
    return str(cause), type(cause).__name__


@dataclass
class Saga(Generic[N]):
    """The compensations of the steps done so far; :meth:`compensate` runs them last first.

    ``compensated`` may be a list the caller's status query already shows (it is appended to as
    each undo completes); ``on_undo(name)``, when given, is called as each undo starts.
    """

    #: Names of the undos that ran to completion, in the order they ran.
    compensated: list[N] = field(default_factory=list)
    on_undo: Callable[[N], None] | None = None
    #: ``"name: Type: message"`` of each undo that failed for good.
    failures: list[str] = field(default_factory=list)
    _undos: list[tuple[N, Undo]] = field(default_factory=list)

    def add(self, name: N, undo: Undo) -> None:
        """Register the undo of a step that has just succeeded."""
        self._undos.append((name, undo))

    @property
    def pending(self) -> list[N]:
        """The undos registered and not yet run, in the order they would run."""
        return [name for name, _ in reversed(self._undos)]

    async def compensate(self) -> list[N]:
        """Run every registered undo, last first, to the end even if the caller is cancelled
        meanwhile (the cancellation is raised once they are done). Returns :attr:`compensated`."""
        task = asyncio.ensure_future(self._run())
        cancelled = False
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                cancelled = True
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
        task.result()
        if cancelled:
            raise asyncio.CancelledError()
        return self.compensated

    async def _run(self) -> None:
        while self._undos:
            name, undo = self._undos.pop()
            if self.on_undo is not None:
                self.on_undo(name)
            try:
                await undo()
            except Exception as err:  # recorded, and the next undo still runs
                message, kind = describe(err)
                self.failures.append(f"{name}: {kind}: {message}")
            else:
                self.compensated.append(name)
