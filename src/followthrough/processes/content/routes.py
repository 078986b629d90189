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

from followthrough.api.deps import WorkflowsDep
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import body_example
from followthrough.api.routes.workflows import started
from followthrough.processes.content.rules import ContentPipelineInput, ReviewDecision, content_workflow_id
from followthrough.temporal.operations import UpdateRejected

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
    status: str = "RUNNING"
    result: Any = None
    error: dict[str, Any] | None = None


@router.post(
    "",
    status_code=202,
    response_model=ContentStarted,
    openapi_extra=body_example(
        {
            "brief": {"topic": "Follow-ups that land", "audience": "sales teams"},
            "review_mode": "auto",
            "publish_to": ["blog"],
        }
    ),
)
async def create_content(body: CreateContentRequest, response: Response, wf: WorkflowsDep) -> ContentStarted:
    input = ContentPipelineInput.model_validate(body.model_dump())
    outcome = await wf.start(WORKFLOW, input, workflow_id=input.workflow_id)
    return ContentStarted(content_id=input.content_id, **await started(wf, outcome, response))


@router.get("")
async def list_content(page: ListPageDep, wf: WorkflowsDep) -> dict[str, Any]:
    """The content pipelines the key sees, newest first; ``status``, paginated."""
    return await page.list(wf, "ContentPipelineWorkflow")


@router.get("/{content_id}")
async def get_content(content_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    """The pipeline's status (stage, round, draft, score, reviews) and the execution's state."""
    workflow_id = content_workflow_id(content_id)
    info = await wf.describe(workflow_id)
    content = await wf.query(workflow_id, "status", internal=True)
    return {"workflow_id": workflow_id, "execution_status": info.status, "content": content}


@router.post(
    "/{content_id}/review", openapi_extra=body_example({"approved": True, "reviewer": "maria", "notes": "ship it"})
)
async def review_content(content_id: str, body: ReviewDecision, wf: WorkflowsDep) -> dict[str, Any]:
    workflow_id = content_workflow_id(content_id)
    try:
        outcome = await wf.update(workflow_id, "review", body, internal=True)
    except UpdateRejected as exc:  # not pending: already decided, expired, or still drafting
        raise HTTPException(status.HTTP_409_CONFLICT, exc.reason) from None
    # a closed pipeline is WorkflowClosed: 409 naming its status; one not there (or not the caller's) 404
    return {"workflow_id": workflow_id, "decision": outcome}
