"""Onboarding routes: the Partner Platform's ``POST /api/temporal/onboarding/execute`` (waits
for the saga and returns its result), a fire-and-forget start, and Nexpo's ``POST /api/users``,
which follows ``ENABLE_TEMPORAL`` / ``USE_TEMPORAL_ONBOARDING``: on, it starts the saga and
answers ``{workflowId}``; off, it runs the same steps inline ("direct database operations")
and answers when they are done.

The workflow id is ``onboarding-{HMAC of the email}``, keyed by :func:`workflow_id_key`: the
same email twice reaches the same execution (or re-runs idempotently), and no email appears in
ids or search attributes, nor can one be found by hashing guesses without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from fastapi import APIRouter, Response
from pydantic import AliasChoices, BaseModel, Field
from temporalio.exceptions import ApplicationError

from followthrough.api.deps import SettingsDep, WorkflowsDep
from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun, inline_activity
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import body_example
from followthrough.api.routes.workflows import StartResponse, start_response
from followthrough.config import Settings
from followthrough.processes.deployments.activities import secrets_key
from followthrough.processes.onboarding.rules import (
    CreateStoreUserInput,
    DeleteStoreUserInput,
    OnboardingInput,
    OnboardingResult,
    PlanStoresInput,
    onboarding_workflow_id,
    welcome_idempotency_key,
    welcome_text,
)
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.services import Services

log = logging.getLogger("followthrough.onboarding")

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
    """UserOnboardingWorkflow's steps without Temporal: the same activities, in order; the first
    failure deletes the user again from the stores this run created it in, newest first. Best
    effort: nothing is retried (a store that is down fails the run) and a crash mid-way leaves
    what was written."""
    user_id, owner = input.user_id_under(workflow_id), workflow_id
    plan = await inline_activity(services, "user_stores.plan")(PlanStoresInput(requested=input.stores))
    result = OnboardingResult(success=True, user_id=user_id)
    for store in plan.stores:
        run.status = {"step": f"creating in {store}"}
        create = CreateStoreUserInput(
            store=store, user_id=user_id, email=input.email, name=input.name, onboarding_id=owner
        )
        try:
            created = await inline_activity(services, "user_stores.create_user")(create)
        except Exception as exc:  # noqa: BLE001 - the failure is the result, as in the workflow
            result.success, result.failed_store = False, store
            result.error, result.error_type = str(exc), exc.type if isinstance(exc, ApplicationError) else None
            for done in reversed(result.created_in):
                await inline_activity(services, "user_stores.delete_user")(
                    DeleteStoreUserInput(store=done, user_id=user_id, onboarding_id=owner)
                )
                result.compensated.append(done)
            result.created_in = []
            run.status = result.model_dump(mode="json")
            return
        (result.created_in if created.created else result.already_present_in).append(store)
    if input.phone is not None:
        run.status = {"step": "welcoming"}
        welcome = SendMessageInput(
            to=input.phone,
            text=welcome_text(input.name, input.language),
            idempotency_key=welcome_idempotency_key(workflow_id),
        )
        try:
            result.welcome_message_id = (await inline_activity(services, "messaging.send")(welcome)).message_id
        except Exception as exc:  # noqa: BLE001 - a welcome that fails is not undone, as in the workflow
            log.warning("welcome message not sent: %s", exc)
    run.status = result.model_dump(mode="json")
