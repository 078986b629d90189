"""Outreach campaigns: create (graph + sender + leads), add leads (JSON or CSV), start, pause,
resume, stop and status. The work is in :mod:`followthrough.campaign_control`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from followthrough.api.deps import ServicesDep, WorkflowsDep
from followthrough.campaign_control import (
    CampaignControl,
    CampaignProblem,
    CreateCampaign,
    StartCampaign,
    StopCampaign,
    parse_leads,
)

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


def _problem(exc: CampaignProblem) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


@router.post("", status_code=201)
async def create_campaign(body: CreateCampaign, services: ServicesDep) -> Any:
    """Validate the graph (422 lists every fault with its node id) and the leads, then save."""
    try:
        created = await CampaignControl(services).create(body)
    except CampaignProblem as exc:
        return _problem(exc)
    return created.model_dump()


@router.post("/{campaign_id}/leads", status_code=201)
async def add_leads(campaign_id: str, request: Request, services: ServicesDep) -> Any:
    """Append leads: a JSON list of objects, or CSV text (``Content-Type: text/csv``)."""
    try:
        if request.headers.get("content-type", "").startswith("text/csv"):
            leads = parse_leads(csv_text=(await request.body()).decode("utf-8-sig"))
        else:
            payload = await request.json()
            if not isinstance(payload, list):
                raise CampaignProblem(422, [{"loc": ["body"], "msg": "expected a JSON list of leads"}])
            leads = parse_leads(payload)
        created = await CampaignControl(services).add_leads(campaign_id, leads)
    except CampaignProblem as exc:
        return _problem(exc)
    return created.model_dump()


@router.post("/{campaign_id}/start", status_code=202)
async def start_campaign(
    campaign_id: str, body: StartCampaign, services: ServicesDep, wf: WorkflowsDep, response: Response
) -> Any:
    try:
        outcome = await CampaignControl(services, wf).start(campaign_id, body)
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "workflowId": outcome.workflow_id, "runId": outcome.run_id}


@router.post("/{campaign_id}/pause", status_code=202)
async def pause_campaign(campaign_id: str, services: ServicesDep, wf: WorkflowsDep) -> Any:
    try:
        await CampaignControl(services, wf).pause(campaign_id)
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "signal": "pause"}


@router.post("/{campaign_id}/resume", status_code=202)
async def resume_campaign(campaign_id: str, services: ServicesDep, wf: WorkflowsDep) -> Any:
    try:
        await CampaignControl(services, wf).resume(campaign_id)
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "signal": "resume"}


@router.post("/{campaign_id}/stop", status_code=202)
async def stop_campaign(
    campaign_id: str, services: ServicesDep, wf: WorkflowsDep, body: StopCampaign | None = None
) -> Any:
    try:
        await CampaignControl(services, wf).stop(campaign_id, body or StopCampaign())
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "signal": "stop"}


@router.get("/{campaign_id}/status")
async def campaign_status(campaign_id: str, services: ServicesDep, wf: WorkflowsDep) -> Any:
    try:
        return await CampaignControl(services, wf).status(campaign_id)
    except CampaignProblem as exc:
        return _problem(exc)
