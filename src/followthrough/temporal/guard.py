"""The payload guard: a workflow never fails its task on a signal or update it cannot take.

The generic API checks a message before sending it, but anything else can reach a workflow:
an old client, the ``temporal`` CLI, a script. What the SDK (1.35) does with such a message,
read in ``temporalio/worker/_workflow_instance.py``:

* a payload that does not decode into the handler's type hint (a wrong-shaped dict, a list,
  ``null``, garbage): the signal is logged with the decoding error and dropped; an update is
  rejected. The decoding error is pydantic's, whose text quotes the payload: personal data in
  the log.
* no payload at all, or a count the handler's hints do not match (then the SDK decodes without
  type hints, to plain dicts): the handler is called anyway, raises ``TypeError``, and the
  ``TypeError`` fails the workflow *task*, again at every retry and after every restart: the
  workflow is stuck for good.

This module closes both, once for every workflow: :class:`PayloadGuardInterceptor` checks a
signal's or update's arguments against the handler's signature (``handlers.payload_problem``)
before the handler runs; a signal that does not fit is logged (names and counts only) and
counted in ``followthrough_signals_dropped{workflow_type, signal, reason}`` and dropped, an
update is rejected with an ``InvalidUpdateInput`` error (the caller sees why, nothing changes).
For the SDK's own decode-failure drop, :class:`_UndecodableSignalLog` rewrites the log record
without the payload and counts it with ``reason="undecodable"``. That record is written outside
workflow code, where replay is not known: a workflow replayed after eviction counts such a drop
again (the interceptor's own counts skip replay).

A field the input model does not have is ignored here (pydantic's default): a newer client's
field reaching an older worker is compatible; the API, stricter, refuses it with a 422.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from followthrough.temporal.handlers import HandlerSpec, handler_spec, payload_problem

#: record(workflow_type, signal, reason): count one dropped signal.
Record = Callable[[str, str, str], None]

_EXTERN = "followthrough_record_signal_dropped"
_SDK_LOGGER = "temporalio.worker._workflow_instance"
_SDK_DROP = re.compile(r"^Failed deserializing signal input for (?P<signal>.+?) on workflow (?P<type>\S+) with ID ")

#: workflow class → (kind, handler name) → its spec; None for a dynamic or unknown handler. Keyed by
#: the class itself, not the type name (two classes may register one name: a test's fake), and
#: weakly, so classes re-created by the sandbox are not kept.
_specs: weakref.WeakKeyDictionary[type, dict[tuple[str, str], HandlerSpec | None]] = weakref.WeakKeyDictionary()


def _spec(kind: str, name: str) -> HandlerSpec | None:
    cls = type(workflow.instance())
    specs = _specs.setdefault(cls, {})
    if (kind, name) not in specs:
        defn = workflow._Definition.must_from_class(cls)
        handler = (defn.signals if kind == "signal" else defn.updates).get(name)
        specs[kind, name] = (
            handler_spec(name, handler.fn, public=True) if handler is not None and handler.name else None
        )
    return specs[kind, name]


class _GuardInbound(WorkflowInboundInterceptor):
    async def handle_signal(self, input: HandleSignalInput) -> None:
        spec = _spec("signal", input.signal)
        problem = payload_problem(spec, input.args) if spec is not None else None
        if problem is None:
            return await self.next.handle_signal(input)
        reason, message = problem
        workflow.logger.warning("signal %s dropped: %s", input.signal, message)
        if not workflow.unsafe.is_replaying():
            workflow.extern_functions()[_EXTERN](workflow.info().workflow_type, input.signal, reason)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._check_update(input)
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._check_update(input)  # an update without a validator is checked here
        return await self.next.handle_update_handler(input)

    @staticmethod
    def _check_update(input: HandleUpdateInput) -> None:
        spec = _spec("update", input.update)
        problem = payload_problem(spec, input.args) if spec is not None else None
        if problem is not None:
            message = f"update {input.update} refused: {problem[1]}"
            raise ApplicationError(message, type="InvalidUpdateInput", non_retryable=True)


class _UndecodableSignalLog(logging.Filter):
    """Rewrites the SDK's "Failed deserializing signal input" record: no payload, a count."""

    def __init__(self) -> None:
        super().__init__()
        self.record: Record | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        match = _SDK_DROP.match(str(record.msg))
        if match is None:
            return True
        error = record.exc_info[1] if record.exc_info else None
        cause = type(error.__cause__ or error).__name__ if error is not None else "unknown error"
        record.msg = "signal %s dropped on workflow %s: its payload does not decode into the handler's input (%s)"
        record.args = (match["signal"], match["type"], cause)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        if self.record is not None:
            self.record(match["type"], match["signal"], "undecodable")
        return True


_log_filter = _UndecodableSignalLog()


class PayloadGuardInterceptor(Interceptor):
    """Drops (signals) or rejects (updates) what a handler cannot take; see the module doc."""

    def __init__(self, record: Record) -> None:
        self._record = record
        _log_filter.record = record
        sdk_logger = logging.getLogger(_SDK_LOGGER)
        if _log_filter not in sdk_logger.filters:
            sdk_logger.addFilter(_log_filter)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        input.unsafe_extern_functions[_EXTERN] = self._record
        return _GuardInbound
