"""The client wrapper of the OpenCell guide: start, execute, describe, result, signal, query,
update, cancel, terminate and list, shared by the HTTP API, the CLI and every business route.

Errors come out as the exceptions below, never as gRPC tracebacks; the API maps them to
403/404/409/422/503 and the CLI to one line on stderr.

A signal, query or update is checked against the workflow's catalog entry before anything is
sent: the name must be a handler of the type (:class:`UnknownHandler`), a signal or update must
be declared public (:class:`HandlerNotPublic`, see ``temporal/handlers.py``) and the payload
must fit the handler's input model (:class:`InvalidInput`). Followthrough's own code, which
sends typed models it built itself, passes ``internal=True`` and skips the checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.config import DEFAULT_ORGANIZATION, SEARCH_ATTRIBUTES
from followthrough.temporal.catalog import WorkflowSpec, catalog
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.handlers import HandlerSpec, Kind

#: Temporal's own limit is 30 days for the seeds' longest processes (campaigns).
DEFAULT_EXECUTION_TIMEOUT = timedelta(days=30)


class UnknownWorkflowType(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown workflow type {name!r}; known types: {', '.join(sorted(known))}")
        self.name = name
        self.known = sorted(known)


class WorkflowNotFound(LookupError):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"no workflow with id {workflow_id!r}")
        self.workflow_id = workflow_id


class InvalidInput(ValueError):
    """The input does not fit the workflow's input model; ``errors`` name field and reason."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


class UnknownHandler(LookupError):
    """The workflow type has no signal/update/query of that name; ``known`` lists those it has."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown {kind} {name!r}; this workflow's {kind}s: {listed}")
        self.kind = kind
        self.name = name
        self.known = sorted(known)


class HandlerNotPublic(PermissionError):
    """A signal or update the workflow does not let clients send (its ``INTERNAL`` says why)."""

    def __init__(self, kind: str, name: str, workflow_type: str, reason: str | None = None) -> None:
        self.reason = reason or f"{name} is sent only by Followthrough itself"
        super().__init__(f"{kind} {name!r} of {workflow_type} is not public: {self.reason}")
        self.kind = kind
        self.name = name
        self.workflow_type = workflow_type


class UpdateRejected(RuntimeError):
    """The workflow refused the update: its validator (or the payload guard) rejected it, or
    its handler failed; ``reason`` is the workflow's message."""

    def __init__(self, workflow_id: str, name: str, message: str, error_type: str | None) -> None:
        super().__init__(f"update {name!r} of {workflow_id!r} refused: {message}")
        self.workflow_id = workflow_id
        self.name = name
        self.reason = message
        self.error_type = error_type


class StillRunning(RuntimeError):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} is still running")
        self.workflow_id = workflow_id


class WorkflowFailed(RuntimeError):
    """The workflow closed without a result (failed, cancelled, terminated, timed out)."""

    def __init__(self, workflow_id: str, status: str, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.status = status
        self.error_type = error_type


@dataclass(frozen=True)
class StartOutcome:
    workflow_id: str
    run_id: str
    created: bool


@dataclass(frozen=True)
class ExecutionInfo:
    workflow_id: str
    run_id: str
    type: str
    status: str
    start_time: datetime | None
    close_time: datetime | None
    execution_time_ms: int | None
    task_queue: str | None
    search_attributes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "type": self.type,
            "status": self.status,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "close_time": self.close_time.isoformat() if self.close_time else None,
            "execution_time_ms": self.execution_time_ms,
            "task_queue": self.task_queue,
            "search_attributes": self.search_attributes,
        }


def _translate(exc: RPCError, workflow_id: str | None, address: str) -> Exception:
    if exc.status == RPCStatusCode.NOT_FOUND and workflow_id is not None:
        return WorkflowNotFound(workflow_id)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TemporalUnavailable(address, exc.message)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return ValueError(exc.message)
    return exc


class Workflows:
    """Operations on workflows, bound to one client and task queue."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        specs: dict[str, WorkflowSpec] | None = None,
        organization: str | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.specs: dict[str, WorkflowSpec] = catalog() if specs is None else specs
        #: The owner stamped on what this starts when the caller names none (``OrganizationId``).
        self.organization: str | None = organization

    @property
    def address(self) -> str:
        return self.client.service_client.config.target_host

    def spec(self, workflow_type: str) -> WorkflowSpec:
        """The type by its name; the seeds' lowerCamel spelling (``botDeploymentWorkflow``,
        ``sendNotificationWorkflow``, ``userOnboardingWorkflow``) names the same type."""
        spec = self.specs.get(workflow_type) or self.specs.get(workflow_type[:1].upper() + workflow_type[1:])
        if spec is None:
            raise UnknownWorkflowType(workflow_type, list(self.specs))
        return spec

    def validate_input(self, spec: WorkflowSpec, raw: Any) -> Any:
        if spec.input_model is None:
            return raw
        if isinstance(raw, spec.input_model):
            return raw
        try:
            return spec.input_model.model_validate(raw if raw is not None else {})
        except pydantic.ValidationError as exc:
            raise InvalidInput(
                [
                    {"loc": ["input", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                    for e in exc.errors(include_url=False, include_context=False)
                ]
            ) from None

    def search_attributes(self, family: str, given: Mapping[str, str] | None) -> TypedSearchAttributes:
        """``given`` plus the family and, unless named, the owner: every execution has one."""
        owner = self.organization or DEFAULT_ORGANIZATION
        values = {"WorkflowFamily": family, "OrganizationId": owner, **(given or {})}
        unknown = sorted(set(values) - set(SEARCH_ATTRIBUTES))
        if unknown:
            raise InvalidInput(
                [
                    {
                        "loc": ["search_attributes", name],
                        "msg": f"unknown search attribute; known: {', '.join(SEARCH_ATTRIBUTES)}",
                        "type": "unknown",
                    }
                    for name in unknown
                ]
            )
        pairs = [SearchAttributePair(SearchAttributeKey.for_keyword(k), str(v)) for k, v in values.items()]
        return TypedSearchAttributes(pairs)

    async def start(
        self,
        workflow_type: str,
        input: Any = None,
        *,
        workflow_id: str | None = None,
        search_attributes: Mapping[str, str] | None = None,
        start_delay: timedelta | None = None,
        execution_timeout: timedelta | None = DEFAULT_EXECUTION_TIMEOUT,
    ) -> StartOutcome:
        """Start a workflow, or return the running one with the same id (no twin)."""
        spec = self.spec(workflow_type)
        arg = self.validate_input(spec, input)
        attrs = self.search_attributes(spec.family, search_attributes)
        workflow_id = workflow_id or f"{spec.family}-{uuid.uuid4()}"
        try:
            handle: WorkflowHandle[Any, Any] = await self.client.start_workflow(
                spec.name,
                arg,
                id=workflow_id,
                task_queue=self.task_queue,
                search_attributes=attrs,
                start_delay=start_delay,
                execution_timeout=execution_timeout,
            )
            return StartOutcome(workflow_id, handle.result_run_id or "", created=True)
        except WorkflowAlreadyStartedError:
            desc = await self.describe(workflow_id)
            return StartOutcome(workflow_id, desc.run_id, created=False)
        except RPCError as exc:
            raise _translate(exc, None, self.address) from None

    async def describe(self, workflow_id: str, run_id: str | None = None) -> ExecutionInfo:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            desc: WorkflowExecutionDescription = await handle.describe()
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None
        return _info(desc)

    async def result(self, workflow_id: str, *, wait: bool = False) -> Any:
        """The result; raises :class:`StillRunning` unless ``wait``."""
        if not wait:
            info = await self.describe(workflow_id)
            if info.status == "RUNNING":
                raise StillRunning(workflow_id)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            info = await self.describe(workflow_id)
            cause = exc.cause
            raise WorkflowFailed(
                workflow_id,
                info.status,
                str(getattr(cause, "message", None) or cause or exc),
                getattr(cause, "type", None),
            ) from None
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def execute(self, workflow_type: str, input: Any = None, **kwargs: Any) -> tuple[StartOutcome, Any]:
        outcome = await self.start(workflow_type, input, **kwargs)
        return outcome, await self.result(outcome.workflow_id, wait=True)

    async def checked_arg(
        self, kind: Kind, workflow_id: str, name: str, arg: Any, workflow_type: str | None = None
    ) -> Any:
        """The payload to send, once the handler is known, public and fits it (see module doc)."""
        if workflow_type is None:
            workflow_type = (await self.describe(workflow_id)).type
        spec = self.spec(workflow_type)
        handlers = spec.handlers(kind)
        handler = handlers.get(name)
        if handler is None:
            raise UnknownHandler(kind, name, list(handlers))
        if not handler.public:
            raise HandlerNotPublic(kind, name, spec.name, handler.internal_reason)
        return validate_payload(kind, handler, arg)

    async def signal(
        self,
        workflow_id: str,
        name: str,
        arg: Any = None,
        *,
        workflow_type: str | None = None,
        internal: bool = False,
    ) -> None:
        """Send a signal; ``workflow_type`` spares a describe when the caller knows it."""
        if not internal:
            arg = await self.checked_arg("signal", workflow_id, name, arg, workflow_type)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            if arg is None:
                await handle.signal(name)
            else:
                await handle.signal(name, arg)
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def query(
        self,
        workflow_id: str,
        name: str,
        arg: Any = None,
        *,
        workflow_type: str | None = None,
        internal: bool = False,
    ) -> Any:
        if not internal:
            arg = await self.checked_arg("query", workflow_id, name, arg, workflow_type)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            if arg is None:
                return await handle.query(name)
            return await handle.query(name, arg)
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def update(
        self,
        workflow_id: str,
        name: str,
        arg: Any = None,
        *,
        workflow_type: str | None = None,
        internal: bool = False,
    ) -> Any:
        """Run an update and wait for its result; a refusal is :class:`UpdateRejected`."""
        if not internal:
            arg = await self.checked_arg("update", workflow_id, name, arg, workflow_type)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            if arg is None:
                return await handle.execute_update(name)
            return await handle.execute_update(name, arg)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = str(getattr(cause, "message", None) or cause or exc)
            raise UpdateRejected(workflow_id, name, message, getattr(cause, "type", None)) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise TemporalUnavailable(self.address, f"update {name!r} was not answered in time") from None
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def cancel(self, workflow_id: str) -> None:
        try:
            await self.client.get_workflow_handle(workflow_id).cancel()
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def terminate(self, workflow_id: str, reason: str | None = None) -> None:
        try:
            await self.client.get_workflow_handle(workflow_id).terminate(reason=reason)
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None

    async def history_json(self, workflow_id: str, run_id: str | None = None) -> str:
        """The execution's full event history as JSON (what replay tests and the Web UI read)."""
        try:
            history = await self.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None
        return history.to_json()

    async def count(self, query: str) -> Any:
        """How many executions match a visibility query (``GROUP BY`` allowed: the groups)."""
        try:
            return await self.client.count_workflows(query)
        except RPCError as exc:
            raise _translate(exc, None, self.address) from None

    async def list(
        self, query: str | None = None, *, page_size: int = 50, page_token: bytes | None = None
    ) -> tuple[list[ExecutionInfo], bytes | None]:
        """One page of executions matching a visibility query, and the next page's token."""
        iterator = self.client.list_workflows(query or None, page_size=page_size, next_page_token=page_token)
        try:
            await iterator.fetch_next_page()
        except RPCError as exc:
            raise _translate(exc, None, self.address) from None
        return [_info(e) for e in iterator.current_page or []], iterator.next_page_token or None


def validate_payload(kind: str, handler: HandlerSpec, arg: Any) -> Any:
    """``arg`` as the handler's input model; :class:`InvalidInput` with ``loc`` from ``body``.

    Stricter than the worker on purpose: a field the model does not have is an error here
    (a client's typo), while a worker ignores it (a newer client's field reaching an older one).
    """
    if not handler.takes_arg:
        if arg is None:
            return None
        raise InvalidInput(
            [{"loc": ["body"], "msg": f"{kind} {handler.name!r} takes no body", "type": "extra_forbidden"}]
        )
    if arg is None:
        if not handler.requires_arg:
            return None
        raise InvalidInput([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    model = handler.input_model
    if model is None or isinstance(arg, model):
        return arg
    try:
        return model.model_validate(arg, extra="forbid")
    except pydantic.ValidationError as exc:
        raise InvalidInput(
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None


def _info(desc: Any) -> ExecutionInfo:
    status = desc.status.name if isinstance(desc.status, WorkflowExecutionStatus) else str(desc.status)
    end = desc.close_time or datetime.now(UTC)
    elapsed = int((end - desc.start_time).total_seconds() * 1000) if desc.start_time else None
    attrs = {pair.key.name: pair.value for pair in desc.typed_search_attributes}
    return ExecutionInfo(
        workflow_id=desc.id,
        run_id=desc.run_id,
        type=desc.workflow_type,
        status=status,
        start_time=desc.start_time,
        close_time=desc.close_time,
        execution_time_ms=elapsed,
        task_queue=desc.task_queue,
        search_attributes=attrs,
    )
