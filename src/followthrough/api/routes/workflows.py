"""Generic workflow routes: any registered workflow type, by name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, Field

from followthrough.api.deps import WorkflowsDep
from followthrough.api.openapi import body_example
from followthrough.temporal.operations import (
    InvalidInput,
    InvalidPageToken,
    StartOutcome,
    WorkflowFailed,
    Workflows,
    decode_page_token,
    encode_page_token,
)

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


#: A start of the HealthCheckWorkflow, as the README's first request.
START_EXAMPLE = {"input": {}, "workflow_id": "health-1", "search_attributes": {"LeadId": "lead-42"}}


class StartRequest(BaseModel):
    input: dict[str, Any] = Field(default_factory=dict)
    workflow_id: str | None = Field(default=None, min_length=1, max_length=400)
    search_attributes: dict[str, str] | None = None
    start_delay_seconds: float | None = Field(
        default=None, ge=0, le=366 * 86_400, allow_inf_nan=False, description="start later (durably), ≤ 366 days"
    )


class StartResponse(BaseModel):
    workflow_id: str
    run_id: str
    created: bool
    status: str = Field(default="RUNNING", description="the execution's status; a closed one is not run again")
    result: Any = Field(default=None, description="a completed execution's result")
    error: dict[str, Any] | None = Field(default=None, description="why a closed execution has no result")


class ExecuteResponse(BaseModel):
    workflow_id: str
    result: Any


async def closed_outcome(wf: Workflows, outcome: StartOutcome) -> dict[str, Any]:
    """What a start that found the id closed answers besides the ids: ``status``, and the
    execution's ``result`` (completed) or ``error`` (failed, cancelled, terminated, timed out)."""
    if not outcome.closed:
        return {"status": outcome.status}
    try:
        result = await wf.result(outcome.workflow_id)
    except WorkflowFailed as exc:
        error = {"message": exc.args[0], "type": exc.error_type}
        return {"status": outcome.status, "result": None, "error": error}
    dumped = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return {"status": outcome.status, "result": dumped}


async def started(wf: Workflows, outcome: StartOutcome, response: Response) -> dict[str, Any]:
    """What every start route answers: 202 for a new execution; 200 for the one already under
    that id: running, or closed with its result (a start never runs a closed id again)."""
    response.status_code = status.HTTP_202_ACCEPTED if outcome.created else status.HTTP_200_OK
    return {
        "workflow_id": outcome.workflow_id,
        "run_id": outcome.run_id,
        "created": outcome.created,
        **await closed_outcome(wf, outcome),
    }


async def start_response(wf: Workflows, outcome: StartOutcome, response: Response) -> StartResponse:
    """:func:`started` as the generic start's model."""
    return StartResponse(**await started(wf, outcome, response))


def _start_kwargs(body: StartRequest) -> dict[str, Any]:
    return {
        "workflow_id": body.workflow_id,
        "search_attributes": body.search_attributes,
        "start_delay": _delay(body.start_delay_seconds),
    }


def _delay(seconds: float | None) -> timedelta | None:
    """The start delay; past what a ``timedelta`` holds (1e300 s) it is the field's 422."""
    if not seconds:
        return None
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        loc = ["body", "start_delay_seconds"]
        raise InvalidInput([{"loc": loc, "msg": "too large a delay", "type": "less_than_equal"}]) from None


@router.post(
    "/{workflow_type}/start", status_code=202, response_model=StartResponse, openapi_extra=body_example(START_EXAMPLE)
)
async def start(workflow_type: str, body: StartRequest, response: Response, wf: WorkflowsDep) -> StartResponse:
    outcome = await wf.start(workflow_type, body.input, **_start_kwargs(body))
    return await start_response(wf, outcome, response)


@router.post("/{workflow_type}/execute", response_model=ExecuteResponse, openapi_extra=body_example(START_EXAMPLE))
async def execute(workflow_type: str, body: StartRequest, wf: WorkflowsDep) -> ExecuteResponse:
    outcome, result = await wf.execute(workflow_type, body.input, **_start_kwargs(body))
    return ExecuteResponse(workflow_id=outcome.workflow_id, result=result)


@router.get("")
async def list_workflows(
    wf: WorkflowsDep,
    query: str | None = Query(default=None, description='visibility query, e.g. WorkflowType="X"'),
    page_size: int = Query(default=50, ge=1, le=1000),
    page_token: str | None = Query(default=None, description="next_page_token of the previous page"),
) -> dict[str, Any]:
    """One page of executions; a ``page_token`` this API did not return is 422."""
    token = decode_page_token(page_token) if page_token else None
    if page_token is not None and not page_token:
        raise InvalidPageToken("empty")
    items, next_token = await wf.list(query, page_size=page_size, page_token=token)
    return {
        "executions": [i.as_dict() for i in items],
        "next_page_token": encode_page_token(next_token) if next_token else None,
    }


@router.get("/{workflow_id}")
async def describe(workflow_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    return (await wf.describe(workflow_id)).as_dict()


@router.get("/{workflow_id}/result")
async def result(workflow_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "result": await wf.result(workflow_id)}


@router.post("/{workflow_id}/signal/{name}", status_code=202, openapi_extra=body_example({"message_id": "wamid-1"}))
async def signal(workflow_id: str, name: str, wf: WorkflowsDep, payload: Any = Body(default=None)) -> dict[str, Any]:
    """Send one of the workflow's public signals; the body is its input model (JSON).

    404 for a name the workflow does not handle (the answer lists those it does), 403 for a
    signal only Followthrough itself sends, 422 for a missing or ill-fitting body.
    """
    await wf.signal(workflow_id, name, payload)
    return {"workflow_id": workflow_id, "signal": name, "delivered": True}


@router.get("/{workflow_id}/query/{name}")
async def query(workflow_id: str, name: str, wf: WorkflowsDep) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "query": name, "result": await wf.query(workflow_id, name)}


@router.post("/{workflow_id}/update/{name}", openapi_extra=body_example({"approved": True, "reviewer": "maria"}))
async def update(workflow_id: str, name: str, wf: WorkflowsDep, payload: Any = Body(default=None)) -> dict[str, Any]:
    """Run one of the workflow's public updates and answer its result (the same rules as a
    signal; an update the workflow refuses is 422 with its reason)."""
    return {"workflow_id": workflow_id, "update": name, "result": await wf.update(workflow_id, name, payload)}


@router.post("/{workflow_id}/cancel", status_code=202)
async def cancel(workflow_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    await wf.cancel(workflow_id)
    return {"workflow_id": workflow_id, "cancel_requested": True}


@router.post("/{workflow_id}/terminate", status_code=202)
async def terminate(workflow_id: str, wf: WorkflowsDep, reason: str | None = Query(default=None)) -> dict[str, Any]:
    await wf.terminate(workflow_id, reason)
    return {"workflow_id": workflow_id, "terminated": True}
