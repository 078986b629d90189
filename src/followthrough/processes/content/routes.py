"""Content pipeline routes: start from a brief, read the status, decide the pending review.

The review goes through the workflow's ``review`` update, so the answer says whether the
decision was taken: a review that is not pending (already decided, expired, or a draft still
being written) answers 409 with the workflow validator's reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.api.deps import WorkflowsDep
from followthrough.processes.content.rules import ContentPipelineInput, ReviewDecision, content_workflow_id

router = APIRouter(prefix="/api/content", tags=["content"])

WORKFLOW = "ContentPipelineWorkflow"


class CreateContentRequest(ContentPipelineInput):
    """The pipeline input; ``content_id`` is generated when not given."""

    content_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )


class ContentStarted(BaseModel):
    content_id: str
    workflow_id: str
    run_id: str
    created: bool


@router.post("", status_code=202, response_model=ContentStarted)
async def create_content(body: CreateContentRequest, response: Response, wf: WorkflowsDep) -> ContentStarted:
    input = ContentPipelineInput.model_validate(body.model_dump())
    outcome = await wf.start(WORKFLOW, input, workflow_id=input.workflow_id)
    response.status_code = status.HTTP_202_ACCEPTED if outcome.created else status.HTTP_200_OK
    return ContentStarted(
        content_id=input.content_id, workflow_id=outcome.workflow_id, run_id=outcome.run_id, created=outcome.created
    )


@router.get("/{content_id}")
async def get_content(content_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    """The pipeline's status (stage, round, draft, score, reviews) and the execution's state."""
    workflow_id = content_workflow_id(content_id)
    info = await wf.describe(workflow_id)
    content = await wf.query(workflow_id, "status", internal=True)
    return {"workflow_id": workflow_id, "execution_status": info.status, "content": content}


@router.post("/{content_id}/review")
async def review_content(content_id: str, body: ReviewDecision, wf: WorkflowsDep) -> dict[str, Any]:
    workflow_id = content_workflow_id(content_id)
    await wf.describe(workflow_id)  # 404 for content that is not there, or not the caller's
    handle = wf.client.get_workflow_handle(workflow_id)
    try:
        outcome = await handle.execute_update("review", body)
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause or exc)
        raise HTTPException(status.HTTP_409_CONFLICT, reason) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            info = await wf.describe(workflow_id)  # 404 when there is no such content
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the pipeline is closed ({info.status}); no review is pending"
            ) from None
        raise
    return {"workflow_id": workflow_id, "decision": outcome}
