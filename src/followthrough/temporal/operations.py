"""The client wrapper of the OpenCell guide: start, execute, describe, result, signal, query,
update, cancel, terminate and list, shared by the HTTP API, the CLI and every business route.

Errors come out as the exceptions below, never as gRPC tracebacks; the API maps them to
403/404/409/422/503 and the CLI to one line on stderr. Every call is bounded: an RPC gets
:attr:`Workflows.rpc_timeout` seconds in all (the SDK's own retries included) and a query
:attr:`Workflows.query_timeout`, so Temporal down is a quick :class:`TemporalUnavailable`, and a
query nobody answers is a quick :class:`WorkflowTaskFailing` (the workflow's task fails, with
its cause) or :class:`QueryNotAnswered` (no worker), never a half-minute wait.

A failure is reported by its root cause: the innermost ``cause`` of the SDK's chain
(``WorkflowFailureError`` → ``ActivityError`` → ``ApplicationError`` …), message and type,
not the outer "Activity task failed".

A signal, query or update is checked against the workflow's catalog entry before anything is
sent: the name must be a handler of the type (:class:`UnknownHandler`), a signal or update must
be declared public (:class:`HandlerNotPublic`, see ``temporal/handlers.py``) and the payload
must fit the handler's input model (:class:`InvalidInput`). Followthrough's own code, which
sends typed models it built itself, passes ``internal=True`` and skips the checks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pydantic
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.config import DEFAULT_ORGANIZATION, SEARCH_ATTRIBUTES
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.handlers import HandlerSpec, Kind
from followthrough.temporal.specs import WorkflowSpec, WorkflowSpecs

T = TypeVar("T")

#: Temporal's own limit is 30 days for the seeds' longest processes (campaigns).
DEFAULT_EXECUTION_TIMEOUT = timedelta(days=30)
#: Seconds an RPC (describe, list, count, start, signal, cancel …) may take, retries included.
RPC_TIMEOUT = 5.0
#: Seconds a query may wait for a worker to answer it.
QUERY_TIMEOUT = 5.0


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


class WorkflowClosed(WorkflowNotFound):
    """A signal, update, cancel or terminate sent to an execution that has closed (the API's
    409, naming its status): the id exists, so it is not a 404, but no running execution takes
    the request. A :class:`WorkflowNotFound` still, so callers for whom "nothing running to tell"
    is one case (a webhook telling a lead's follow-ups) keep catching both alike."""

    def __init__(self, workflow_id: str, status: str) -> None:
        super().__init__(workflow_id)
        self.args = (f"workflow {workflow_id!r} is closed ({status}); it takes no more signals or requests",)
        self.status = status


class StillRunning(RuntimeError):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} is still running")
        self.workflow_id = workflow_id


@dataclass(frozen=True)
class Cause:
    """One failure of a chain: its message and type (an ``ApplicationError``'s ``type``, else
    the class's name: ``ActivityError``, ``TimeoutError`` …)."""

    message: str
    type: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type}


def failure_chain(exc: BaseException) -> list[Cause]:
    """``exc`` and its causes, outermost first, as the SDK chains them (``__cause__``)."""
    chain: list[Cause] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 20:
        seen.add(id(current))
        message = current.message if isinstance(current, FailureError) else str(current)
        error_type = getattr(current, "type", None)
        if not isinstance(error_type, str) or not error_type:
            error_type = type(current).__name__
        chain.append(Cause(message or type(current).__name__, error_type))
        current = current.__cause__
    return chain


class WorkflowFailed(RuntimeError):
    """The workflow closed without a result (failed, cancelled, terminated, timed out); the
    message and ``error_type`` are its root cause's, ``causes`` the whole chain."""

    def __init__(
        self,
        workflow_id: str,
        status: str,
        message: str,
        error_type: str | None,
        causes: list[Cause] | None = None,
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.status = status
        self.error_type = error_type
        self.causes = causes or []

    @classmethod
    def of(cls, workflow_id: str, status: str, exc: BaseException) -> WorkflowFailed:
        chain = failure_chain(exc.cause if isinstance(exc, WorkflowFailureError) else exc)
        root = chain[-1]
        return cls(workflow_id, status, root.message, root.type, chain)

    def __str__(self) -> str:
        kind = f" ({self.error_type})" if self.error_type else ""
        return f"workflow {self.workflow_id!r} {self.status.lower()}: {self.args[0]}{kind}"


class WorkflowTaskFailing(RuntimeError):
    """The workflow cannot make progress nor answer a query: its task fails on the worker (a
    bug in the workflow code, a non-determinism); ``cause`` is the task's last failure."""

    def __init__(self, workflow_id: str, attempt: int, cause: Cause | None) -> None:
        reason = f"{cause.message} ({cause.type})" if cause is not None else "see the worker's log"
        super().__init__(f"the workflow's task is failing (attempt {attempt}): {reason}")
        self.workflow_id = workflow_id
        self.attempt = attempt
        self.cause = cause


class QueryNotAnswered(RuntimeError):
    """No worker answered a query in time (none polls the task queue, or all are busy)."""

    def __init__(self, workflow_id: str, name: str, seconds: float, task_queue: str | None) -> None:
        where = f" on task queue {task_queue!r}" if task_queue else ""
        super().__init__(f"no worker answered the query {name!r} within {seconds:g} s{where}")
        self.workflow_id = workflow_id
        self.name = name
        self.seconds = seconds


class QueryFailed(RuntimeError):
    """The workflow's query handler raised (or rejected the query): its message."""

    def __init__(self, workflow_id: str, name: str, message: str) -> None:
        super().__init__(f"query {name!r} of {workflow_id!r} failed: {message}")
        self.workflow_id = workflow_id
        self.name = name
        self.reason = message


class InvalidPageToken(ValueError):
    """A ``page_token`` that is not one this API returned (or that the server refused)."""

    def __init__(self, reason: str = "not a page token this API returned") -> None:
        super().__init__(f"page_token: {reason}")
        self.reason = reason


# --- page tokens --------------------------------------------------------------------------
# The server's token is opaque and, given garbage, the server answers UNKNOWN ("something went
# wrong") after its client retried for seconds. Ours carries a version and a checksum, so text
# that is not a token we handed out is refused at once.
_TOKEN_VERSION = b"\x01"


def encode_page_token(raw: bytes) -> str:
    digest = hashlib.sha256(raw).digest()[:4]
    return base64.urlsafe_b64encode(_TOKEN_VERSION + digest + raw).decode().rstrip("=")


def decode_page_token(text: str) -> bytes:
    """The server's token inside ``text``; :class:`InvalidPageToken` when it is not one of ours."""
    try:
        data = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidPageToken() from None
    version, digest, raw = data[:1], data[1:5], data[5:]
    if version != _TOKEN_VERSION or not raw or hashlib.sha256(raw).digest()[:4] != digest:
        raise InvalidPageToken()
    return raw


@dataclass(frozen=True)
class StartOutcome:
    """What a start did: ``created`` False returns the execution already under the id, running
    or closed (``status``: ``RUNNING``, ``COMPLETED``, ``FAILED`` …)."""

    workflow_id: str
    run_id: str
    created: bool
    status: str = "RUNNING"

    @property
    def closed(self) -> bool:
        return self.status != "RUNNING"


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
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return TemporalUnavailable(address, exc.message)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return ValueError(exc.message)
    return exc


#: Types whose id names something that may run again once closed (a campaign started again
#: after it finished): a start of a closed id runs anew instead of returning the closed run.
RERUNNABLE_TYPES = frozenset({"CampaignOrchestratorWorkflow"})

_CONNECT_FAILED = "Failed client connect"
_GROUP_BY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Workflows:
    """Operations on workflows, bound to one client and task queue."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        specs: WorkflowSpecs,
        organization: str | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        #: The workflow types these operations know (the caller's list: ``Catalog.specs``).
        self.specs: WorkflowSpecs = specs
        #: The owner stamped on what this starts when the caller names none (``OrganizationId``).
        self.organization: str | None = organization
        self.rpc_timeout = RPC_TIMEOUT
        self.query_timeout = QUERY_TIMEOUT

    async def _rpc(self, call: Awaitable[T], workflow_id: str | None = None, *, seconds: float | None = None) -> T:
        """``call`` bounded in all (the SDK retries UNAVAILABLE for ~10 s, past any RPC
        deadline), its errors translated."""
        limit = self.rpc_timeout if seconds is None else seconds
        try:
            async with asyncio.timeout(limit):
                return await call
        except TimeoutError:
            raise TemporalUnavailable(self.address, f"no answer within {limit:g} s") from None
        except RPCError as exc:
            raise _translate(exc, workflow_id, self.address) from None
        except RuntimeError as exc:  # a lazy client's first connection: the core's message
            if not str(exc).startswith(_CONNECT_FAILED):
                raise
            raise TemporalUnavailable(self.address, str(exc).splitlines()[0]) from None

    @property
    def _deadline(self) -> timedelta:
        return timedelta(seconds=self.rpc_timeout)

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
        rerun_closed: bool | None = None,
    ) -> StartOutcome:
        """Start a workflow, or return the execution already under the id: running, or closed
        (a completed booking posted again is that booking, not a second one: no twin, no side
        effect sent twice). ``rerun_closed`` runs a closed id anew (default: only the
        :data:`RERUNNABLE_TYPES`); a running one is always returned, never twinned."""
        spec = self.spec(workflow_type)
        if rerun_closed is None:
            rerun_closed = spec.name in RERUNNABLE_TYPES
        reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE if rerun_closed else WorkflowIDReusePolicy.REJECT_DUPLICATE
        arg = self.validate_input(spec, input)
        attrs = self.search_attributes(spec.family, search_attributes)
        workflow_id = workflow_id or f"{spec.family}-{uuid.uuid4()}"
        try:
            handle: WorkflowHandle[Any, Any] = await self._rpc(
                self.client.start_workflow(
                    spec.name,
                    arg,
                    id=workflow_id,
                    task_queue=self.task_queue,
                    search_attributes=attrs,
                    start_delay=start_delay,
                    execution_timeout=execution_timeout,
                    id_reuse_policy=reuse,
                    rpc_timeout=self._deadline,
                )
            )
            return StartOutcome(workflow_id, handle.result_run_id or "", created=True)
        except WorkflowAlreadyStartedError:
            desc = await self.describe(workflow_id)
            return StartOutcome(workflow_id, desc.run_id, created=False, status=desc.status)

    async def _closed_or_missing(self, workflow_id: str) -> WorkflowClosed | WorkflowNotFound:
        """Why Temporal answered NOT_FOUND for an id: it does for a missing id and for a closed
        run alike ("workflow execution already completed"); a describe tells them apart."""
        info = await self.describe(workflow_id)  # WorkflowNotFound when it truly is missing
        if info.status != "RUNNING":
            return WorkflowClosed(workflow_id, info.status)
        return WorkflowNotFound(workflow_id)

    async def require_running(self, workflow_id: str) -> ExecutionInfo:
        """The execution, or :class:`WorkflowClosed` when it has closed (cancel and terminate
        ask first: Temporal accepts a cancel request for a closed run and does nothing)."""
        info = await self.describe(workflow_id)
        if info.status != "RUNNING":
            raise WorkflowClosed(workflow_id, info.status)
        return info

    async def describe(self, workflow_id: str, run_id: str | None = None) -> ExecutionInfo:
        return _info(await self._describe(workflow_id, run_id))

    async def _describe(self, workflow_id: str, run_id: str | None = None) -> WorkflowExecutionDescription:
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        return await self._rpc(handle.describe(rpc_timeout=self._deadline), workflow_id)

    async def result(self, workflow_id: str, *, wait: bool = False) -> Any:
        """The result; raises :class:`StillRunning` unless ``wait``."""
        if not wait:
            info = await self.describe(workflow_id)
            if info.status == "RUNNING":
                raise StillRunning(workflow_id)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            if not wait:  # closed: one read of its close event
                return await self._rpc(handle.result(rpc_timeout=self._deadline), workflow_id)
            return await handle.result()
        except WorkflowFailureError as exc:
            info = await self.describe(workflow_id)
            raise WorkflowFailed.of(workflow_id, info.status, exc) from None
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
        args = [] if arg is None else [arg]
        try:
            await self._rpc(handle.signal(name, *args, rpc_timeout=self._deadline), workflow_id)
        except WorkflowNotFound:
            raise await self._closed_or_missing(workflow_id) from None

    async def query(
        self,
        workflow_id: str,
        name: str,
        arg: Any = None,
        *,
        workflow_type: str | None = None,
        internal: bool = False,
    ) -> Any:
        """The query's answer within :attr:`query_timeout` seconds; unanswered, the reason:
        :class:`WorkflowTaskFailing` (409) or :class:`QueryNotAnswered` (503)."""
        # One describe first: 404 for a missing id, an instant 409 for a task that fails already.
        desc = await self._check_task(workflow_id)
        if not internal:
            arg = await self.checked_arg("query", workflow_id, name, arg, workflow_type or desc.workflow_type)
        handle = self.client.get_workflow_handle(workflow_id)
        args = [] if arg is None else [arg]
        limit = self.query_timeout
        try:
            # the outer bound is a little longer, so the server's own deadline answers first
            return await self._rpc(
                handle.query(name, *args, rpc_timeout=timedelta(seconds=limit)), workflow_id, seconds=limit + 0.5
            )
        except TemporalUnavailable:
            pass
        except WorkflowQueryRejectedError as exc:
            state = exc.status.name if exc.status else "closed"
            raise QueryFailed(workflow_id, name, f"rejected: the workflow is {state}") from None
        except WorkflowQueryFailedError as exc:
            await self._check_task(workflow_id)
            raise QueryFailed(workflow_id, name, exc.message) from None
        desc = await self._check_task(workflow_id)  # why was it not answered? (503 if Temporal is down)
        raise QueryNotAnswered(workflow_id, name, limit, desc.task_queue)

    async def _check_task(self, workflow_id: str) -> WorkflowExecutionDescription:
        """The description, unless the workflow's task is failing: then :class:`WorkflowTaskFailing`
        with the last failure recorded in its history."""
        desc = await self._describe(workflow_id)
        pending = desc.raw_description.pending_workflow_task
        if desc.raw_description.HasField("pending_workflow_task") and pending.attempt > 1:
            raise WorkflowTaskFailing(workflow_id, pending.attempt, await self._last_task_failure(workflow_id))
        return desc

    async def _last_task_failure(self, workflow_id: str) -> Cause | None:
        """The root cause of the newest ``WorkflowTaskFailed`` event (decoded: failures are
        encrypted), looked for among the history's last 50 events."""
        request = GetWorkflowExecutionHistoryReverseRequest(namespace=self.client.namespace, maximum_page_size=50)
        request.execution.workflow_id = workflow_id
        try:
            response = await self._rpc(
                self.client.workflow_service.get_workflow_execution_history_reverse(
                    request, retry=True, timeout=self._deadline
                ),
                workflow_id,
            )
        except (TemporalUnavailable, RPCError):
            return None
        for event in response.history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failure = event.workflow_task_failed_event_attributes.failure
                try:
                    return failure_chain(await self.client.data_converter.decode_failure(failure))[-1]
                except Exception:  # noqa: BLE001 - an undecodable failure still has a message
                    return Cause(failure.message or "unknown failure", None)
        return None

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
            error = _translate(exc, workflow_id, self.address)
            if isinstance(error, WorkflowNotFound):
                error = await self._closed_or_missing(workflow_id)
            raise error from None

    async def cancel(self, workflow_id: str) -> None:
        """Ask the workflow to cancel; :class:`WorkflowClosed` once it has closed."""
        await self.require_running(workflow_id)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await self._rpc(handle.cancel(rpc_timeout=self._deadline), workflow_id)
        except WorkflowNotFound:  # it closed between the describe and the request
            raise await self._closed_or_missing(workflow_id) from None

    async def terminate(self, workflow_id: str, reason: str | None = None) -> None:
        """End the workflow now; :class:`WorkflowClosed` once it has closed."""
        await self.require_running(workflow_id)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await self._rpc(handle.terminate(reason=reason, rpc_timeout=self._deadline), workflow_id)
        except WorkflowNotFound:
            raise await self._closed_or_missing(workflow_id) from None

    async def history_json(self, workflow_id: str, run_id: str | None = None) -> str:
        """The execution's full event history as JSON (what replay tests and the Web UI read)."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        history = await self._rpc(handle.fetch_history(rpc_timeout=self._deadline), workflow_id, seconds=60)
        return history.to_json()

    async def count(self, query: str, *, group_by: str | None = None) -> Any:
        """How many executions match a visibility query; with ``group_by`` (an attribute's name)
        the counts of its values, in ``groups``."""
        if group_by is not None:
            if not _GROUP_BY.fullmatch(group_by):
                raise ValueError(f"group_by: not an attribute name: {group_by!r}")
            query = f"{query} GROUP BY {group_by}"
        return await self._rpc(self.client.count_workflows(query, rpc_timeout=self._deadline))

    async def list(
        self, query: str | None = None, *, page_size: int = 50, page_token: bytes | None = None
    ) -> tuple[list[ExecutionInfo], bytes | None]:
        """One page of executions matching a visibility query, and the next page's token
        (:func:`encode_page_token` makes it text; :class:`InvalidPageToken` if the server refuses
        the one given)."""
        iterator = self.client.list_workflows(
            query or None, page_size=page_size, next_page_token=page_token, rpc_timeout=self._deadline
        )
        try:
            await self._rpc(iterator.fetch_next_page())
        except ValueError as exc:  # INVALID_ARGUMENT: the query's fault, unless a token was given
            if page_token is not None and "token" in str(exc).lower():
                raise InvalidPageToken(f"refused by Temporal: {exc}") from None
            raise
        except RPCError as exc:  # a token the server cannot read: UNKNOWN, "something went wrong"
            if page_token is not None and exc.status == RPCStatusCode.UNKNOWN:
                raise InvalidPageToken("Temporal could not read it") from None
            raise
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
