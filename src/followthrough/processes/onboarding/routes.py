"""Onboarding routes: the Partner Platform's ``POST /api/temporal/onboarding/execute`` (waits
for the saga and returns its result), a fire-and-forget start, and Nexpo's ``POST /api/users``,
which follows ``ENABLE_TEMPORAL`` / ``USE_TEMPORAL_ONBOARDING``: on, it starts the saga and
answers ``{workflowId}``; off, it runs the workflow's own saga inline ("direct database
operations", :class:`~followthrough.temporal.steps.InlineSteps`) and answers when it is done.

The workflow id is ``onboarding-{HMAC of the email}``, keyed by :func:`workflow_id_key`: the
same email twice reaches the same execution (or re-runs idempotently), and no email appears in
ids or search attributes, nor can one be found by hashing guesses without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Response
from pydantic import AliasChoices, BaseModel, Field

from followthrough.api.deps import SettingsDep, WorkflowsDep
from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import body_example
from followthrough.api.routes.workflows import StartResponse, start_response
from followthrough.config import Settings
from followthrough.processes.deployments.activities import secrets_key
from followthrough.processes.onboarding.rules import OnboardingInput, onboarding_workflow_id
from followthrough.processes.onboarding.workflow import onboarding_saga
from followthrough.services import Services
from followthrough.temporal.steps import InlineSteps

#: One user onboarded into the default stores.
ONBOARDING_EXAMPLE = {"email": "ana@example.com", "name": "Ana García", "language": "es"}

router = APIRouter(tags=["onboarding"])

WORKFLOW = "UserOnboardingWorkflow"


def workflow_id_key(settings: Settings) -> bytes:
    """The key of the onboarding ids: derived from the sealing key (``FOLLOWTHROUGH_SECRETS_KEY``,
    or development's key file), so every API process agrees and no new secret is needed."""
    return hmac.new(secrets_key(settings), b"followthrough/workflow-ids/v1", hashlib.sha256).digest()


def workflow_id_for(settings: Settings, body: OnboardingInput) -> str:
    return onboarding_workflow_id(body.email, workflow_id_key(settings))


@router.post("/api/temporal/onboarding/execute", openapi_extra=body_example(ONBOARDING_EXAMPLE))
async def execute_onboarding(body: OnboardingInput, wf: WorkflowsDep, settings: SettingsDep) -> dict[str, Any]:
    """Create the user in every store, welcome them, and answer with the outcome."""
    outcome, result = await wf.execute(WORKFLOW, body, workflow_id=workflow_id_for(settings, body))
    return {"workflow_id": outcome.workflow_id, "result": result}


@router.post(
    "/api/onboarding", status_code=202, response_model=StartResponse, openapi_extra=body_example(ONBOARDING_EXAMPLE)
)
async def start_onboarding(
    body: OnboardingInput, response: Response, wf: WorkflowsDep, settings: SettingsDep
) -> StartResponse:
    """Start the onboarding and answer at once (poll /api/workflows/{id}/result)."""
    outcome = await wf.start(WORKFLOW, body, workflow_id=workflow_id_for(settings, body))
    return await start_response(wf, outcome, response)


@router.get("/api/onboarding")
async def list_onboardings(page: ListPageDep, wf: WorkflowsDep) -> dict[str, Any]:
    """The onboardings the key sees, newest first; ``status``, paginated."""
    return await page.list(wf, "UserOnboardingWorkflow")


class _InlineStep(BaseModel):
    step: str


class CreateUserRequest(OnboardingInput):
    """Nexpo's body: the onboarding input and the seed's ``workflowId``, the id to run it under
    (our own ids' charset: no email or phone fits in it); without one, ``onboarding-{HMAC}``."""

    workflow_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        validation_alias=AliasChoices("workflowId", "workflow_id"),
    )


@router.post("/api/users", status_code=202, openapi_extra=body_example(ONBOARDING_EXAMPLE))
async def create_user(body: CreateUserRequest, route: FlaggedRouteDep) -> dict[str, Any]:
    """Nexpo's route: the onboarding saga (``{workflowId, …}``, 202), or with Temporal switched
    off the same steps inline, answered with their outcome (``status``) once done. The seed's
    ``workflowId``, when given, is the execution's id (a second post of it finds the first)."""
    input = OnboardingInput.model_validate(body.model_dump(exclude={"workflow_id"}))
    workflow_id = body.workflow_id or workflow_id_for(route.settings, input)
    answer = await route.start(
        Feature.ONBOARDING,
        input,
        workflow_id=workflow_id,
        lead_id=None,
        inline_status=_InlineStep(step="starting"),
        run_inline=lambda run: onboard_inline(route.services, input, workflow_id, run),
        wait_inline=True,
    )
    return {"workflowId": answer["workflow_id"], **answer}


async def onboard_inline(services: Services, input: OnboardingInput, workflow_id: str, run: InlineRun) -> None:
    """UserOnboardingWorkflow's own :func:`onboarding_saga`, its steps awaited in this process.
    Best effort: nothing is retried (a store that is down fails the run) and a crash mid-way
    leaves what was written."""

    def report(step: str) -> None:
        run.status = {"step": step}

    result = await onboarding_saga(InlineSteps(services, workflow_id), input, report)
    run.status = result.model_dump(mode="json")
