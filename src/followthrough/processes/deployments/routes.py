"""Bot deployments (OpenCell): start, watch, pause, resume and cancel ``BotDeploymentWorkflow``.

``POST /api/deployments`` takes the bot's config with its token in clear, seals every secret
key (``token``, ``signing_secret``…) under ``FOLLOWTHROUGH_SECRETS_KEY`` and starts
``deployment-{bot_name}``: from here on only ciphertext travels.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from followthrough.api.deps import SettingsDep, WorkflowsDep
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import body_example
from followthrough.api.routes.workflows import StartResponse, start_response
from followthrough.bounds import MAX_ITEMS, Name
from followthrough.processes.deployments.activities import secrets_key
from followthrough.processes.deployments.rules import (
    BotDeploymentInput,
    BotType,
    config_errors,
    deployment_workflow_id,
    is_secret_key,
    seal_config,
)
from followthrough.temporal.operations import QueryFailed, QueryNotAnswered, WorkflowFailed, WorkflowTaskFailing

router = APIRouter(prefix="/api/deployments", tags=["deployments"])

WORKFLOW = "BotDeploymentWorkflow"


class DeploymentRequest(BaseModel):
    """The bot to deploy; the seed's camelCase (``botName``, ``botType``…) is read too."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    bot_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    bot_type: BotType
    config: dict[Name, Any] = Field(
        default_factory=dict, max_length=MAX_ITEMS, description="secret keys (token…) are sealed on arrival"
    )
    owner: str = Field(min_length=1, max_length=128)
    health_timeout_seconds: float | None = Field(default=None, gt=0, le=24 * 3600, allow_inf_nan=False)
    health_poll_seconds: float | None = Field(default=None, gt=0, le=3600, allow_inf_nan=False)


def _workflow_id(id: str) -> str:
    return id if id.startswith("deployment-") else deployment_workflow_id(id)


@router.post(
    "",
    status_code=202,
    response_model=StartResponse,
    openapi_extra=body_example(
        {"botName": "support-bot", "botType": "discord", "config": {"token": "…"}, "owner": "acme"}
    ),
)
async def deploy(body: DeploymentRequest, response: Response, wf: WorkflowsDep, settings: SettingsDep) -> StartResponse:
    clear = {k: str(v) for k, v in body.config.items() if is_secret_key(k)}
    problems = config_errors(body.bot_type, body.config, clear, settings.allowed_callback_hosts)
    if body.bot_type == "whatsapp" and not (clear.get("webhook_secret") or clear.get("verify_token")):
        if settings.whatsapp_verify_token is None:
            problems.append(("verify_token", "secret 'verify_token' is required for a whatsapp bot"))
    if problems:  # what the workflow's first step would refuse, refused before anything starts
        raise HTTPException(
            422, [{"loc": ["body", "config", key], "msg": msg, "type": "value_error"} for key, msg in problems]
        )
    public, secrets = seal_config(body.config, secrets_key(settings), context=body.bot_name)
    input = BotDeploymentInput(
        bot_name=body.bot_name,
        bot_type=body.bot_type,
        config=public,
        secrets=secrets,
        owner=body.owner,
        health_timeout_seconds=body.health_timeout_seconds or settings.deployment_health_timeout_seconds,
        health_poll_seconds=body.health_poll_seconds or settings.deployment_health_poll_seconds,
    )
    outcome = await wf.start(WORKFLOW, input, workflow_id=deployment_workflow_id(body.bot_name))
    return await start_response(wf, outcome, response)


@router.get("")
async def list_deployments(page: ListPageDep, wf: WorkflowsDep) -> dict[str, Any]:
    """The bot deployments the key sees, newest first; ``status``, paginated."""
    return await page.list(wf, "BotDeploymentWorkflow")


@router.get("/{id}")
async def describe(id: str, wf: WorkflowsDep) -> dict[str, Any]:
    """The execution (status, start/close, execution time) and the ``status`` query's answer."""
    workflow_id = _workflow_id(id)
    info = await wf.describe(workflow_id)
    answer: dict[str, Any] = info.as_dict()
    try:
        deployment = await wf.query(workflow_id, "status", internal=True)
    except (QueryNotAnswered, QueryFailed, WorkflowTaskFailing) as exc:  # e.g. no worker has picked it up yet
        answer["deployment"], answer["query_error"] = None, str(exc)
    else:
        answer["deployment"] = deployment.model_dump(mode="json") if isinstance(deployment, BaseModel) else deployment
    if info.status == "COMPLETED":
        result = await wf.result(workflow_id)
        answer["result"] = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        if isinstance(answer["result"], dict) and "bot_id" in answer["result"]:
            answer["result"]["botId"] = answer["result"]["bot_id"]  # the seed's name for it
    elif info.status != "RUNNING":
        try:
            await wf.result(workflow_id)
        except WorkflowFailed as exc:
            answer["result"] = {"success": False, "error": str(exc), "status": exc.status}
    return answer


@router.post("/{id}/pause", status_code=status.HTTP_202_ACCEPTED)
async def pause(id: str, wf: WorkflowsDep) -> dict[str, Any]:
    await wf.signal(_workflow_id(id), "pause", internal=True)
    return {"workflow_id": _workflow_id(id), "signal": "pause", "delivered": True}


@router.post("/{id}/resume", status_code=status.HTTP_202_ACCEPTED)
async def resume(id: str, wf: WorkflowsDep) -> dict[str, Any]:
    await wf.signal(_workflow_id(id), "resume", internal=True)
    return {"workflow_id": _workflow_id(id), "signal": "resume", "delivered": True}


@router.post("/{id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel(id: str, wf: WorkflowsDep) -> dict[str, Any]:
    """Cancel: the workflow rolls back what it did, then closes as cancelled."""
    await wf.cancel(_workflow_id(id))
    return {"workflow_id": _workflow_id(id), "cancel_requested": True}
