"""Onboarding routes: the Partner Platform's ``POST /api/temporal/onboarding/execute`` (waits
for the saga and returns its result) and a fire-and-forget start.

The workflow id is ``onboarding-{hash of the email}``: the same email twice reaches the same
execution (or re-runs idempotently), and no email appears in ids or search attributes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from followthrough.api.deps import WorkflowsDep
from followthrough.api.routes.workflows import StartResponse, start_response
from followthrough.domain.onboarding import OnboardingInput

router = APIRouter(tags=["onboarding"])

WORKFLOW = "UserOnboardingWorkflow"


@router.post("/api/temporal/onboarding/execute")
async def execute_onboarding(body: OnboardingInput, wf: WorkflowsDep) -> dict[str, Any]:
    """Create the user in every store, welcome them, and answer with the outcome."""
    outcome, result = await wf.execute(WORKFLOW, body, workflow_id=body.workflow_id)
    return {"workflow_id": outcome.workflow_id, "result": result}


@router.post("/api/onboarding", status_code=202, response_model=StartResponse)
async def start_onboarding(body: OnboardingInput, response: Response, wf: WorkflowsDep) -> StartResponse:
    """Start the onboarding and answer at once (poll /api/workflows/{id}/result)."""
    return start_response(await wf.start(WORKFLOW, body, workflow_id=body.workflow_id), response)
