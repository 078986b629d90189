"""Every error becomes a clear JSON answer; never a 500 with a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from followthrough.store import STORE_UNAVAILABLE
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.operations import (
    HandlerNotPublic,
    InvalidInput,
    InvalidPageToken,
    QueryFailed,
    QueryNotAnswered,
    StillRunning,
    UnknownHandler,
    UnknownWorkflowType,
    UpdateRejected,
    WorkflowClosed,
    WorkflowFailed,
    WorkflowNotFound,
    WorkflowTaskFailing,
)
from followthrough.temporal.tenancy import ForeignOrganization, IdTaken, UnsafeQuery

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownWorkflowType)
    async def _unknown_type(_: Request, exc: UnknownWorkflowType) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "known_types": exc.known}, status_code=404)

    @app.exception_handler(WorkflowNotFound)
    async def _not_found(_: Request, exc: WorkflowNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(WorkflowClosed)
    async def _closed(_: Request, exc: WorkflowClosed) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "workflow_id": exc.workflow_id, "status": exc.status}, status_code=409)

    @app.exception_handler(UnknownHandler)
    async def _unknown_handler(_: Request, exc: UnknownHandler) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "kind": exc.kind, f"known_{exc.kind}s": exc.known}, status_code=404)

    @app.exception_handler(HandlerNotPublic)
    async def _not_public(_: Request, exc: HandlerNotPublic) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "kind": exc.kind, "rule": exc.reason}, status_code=403)

    @app.exception_handler(UpdateRejected)
    async def _update_rejected(_: Request, exc: UpdateRejected) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "update": exc.name, "reason": exc.reason, "error_type": exc.error_type},
            status_code=422,
        )

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": exc.errors}, status_code=422)

    @app.exception_handler(StillRunning)
    async def _running(_: Request, exc: StillRunning) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "status": "RUNNING"}, status_code=409)

    @app.exception_handler(WorkflowFailed)
    async def _failed(_: Request, exc: WorkflowFailed) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"workflow {exc.workflow_id!r} closed without a result: {str(exc).split(': ', 1)[-1]}",
                "workflow_id": exc.workflow_id,
                "status": exc.status,
                "error": exc.args[0],
                "error_type": exc.error_type,
                "causes": [c.as_dict() for c in exc.causes],
            },
            status_code=409,
        )

    @app.exception_handler(WorkflowTaskFailing)
    async def _task_failing(_: Request, exc: WorkflowTaskFailing) -> JSONResponse:
        cause = exc.cause.as_dict() if exc.cause is not None else None
        body = {"detail": str(exc), "workflow_id": exc.workflow_id, "attempt": exc.attempt, "cause": cause}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(QueryFailed)
    async def _query_failed(_: Request, exc: QueryFailed) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "query": exc.name, "reason": exc.reason}, status_code=409)

    @app.exception_handler(QueryNotAnswered)
    async def _query_unanswered(_: Request, exc: QueryNotAnswered) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "query": exc.name}, status_code=503)

    @app.exception_handler(InvalidPageToken)
    async def _bad_token(_: Request, exc: InvalidPageToken) -> JSONResponse:
        error = {"loc": ["query", "page_token"], "msg": exc.reason, "type": "value_error"}
        return JSONResponse({"detail": [error]}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # A number or date past what Python or Temporal holds (1e300 seconds, a date near 9999-12-31
        # plus an offset) is the input's fault: where no field names it, the message says it.
        error = {"loc": ["body"], "msg": f"value out of range: {exc}", "type": "value_error"}
        return JSONResponse({"detail": [error]}, status_code=422)

    @app.exception_handler(ForeignOrganization)
    async def _foreign(_: Request, exc: ForeignOrganization) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(IdTaken)
    async def _taken(_: Request, exc: IdTaken) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(UnsafeQuery)
    async def _unsafe_query(_: Request, exc: UnsafeQuery) -> JSONResponse:
        error = {"loc": ["query", "query"], "msg": str(exc), "type": "value_error"}
        return JSONResponse({"detail": [error]}, status_code=422)

    @app.exception_handler(TemporalUnavailable)
    async def _unavailable(_: Request, exc: TemporalUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "address": exc.address}, status_code=503)

    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        # Unreachable, locked past its busy timeout, a dropped connection, no pooled connection
        # free: the same request may pass later. The cause goes to the log, not to the caller.
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
        detail = f"the store is unavailable ({type(exc).__name__}); try again later"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _store_down)

    @app.exception_handler(ValueError)
    async def _bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)
