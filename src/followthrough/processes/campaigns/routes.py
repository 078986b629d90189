"""Outreach campaigns: create (graph + sender + leads), add leads (JSON or CSV), start, pause,
resume, stop and status. The work is in :mod:`followthrough.processes.campaigns.control`.

A lead list comes as JSON objects, as CSV text (``leadsCsv`` or a ``text/csv`` body) or as an
uploaded CSV file (``multipart/form-data``, field ``file``); every form goes through the one
parser, :func:`~followthrough.processes.campaigns.control.parse_leads`.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Literal

import pydantic
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile

from followthrough.api.auth import PrincipalDep
from followthrough.api.deps import ServicesDep, WorkflowsDep
from followthrough.api.openapi import body_example
from followthrough.processes.campaigns.control import (
    CampaignControl,
    CampaignProblem,
    CreateCampaign,
    PauseCampaign,
    PauseNamedCampaign,
    ResumeNamedCampaign,
    StartCampaign,
    StartNamedCampaign,
    StopCampaign,
    StopNamedCampaign,
    decode_csv,
    parse_leads,
)
from followthrough.store.repositories import Campaigns

#: A campaign as POST /api/campaigns takes it: visit each lead's profile, then end.
CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "name": "Spring outreach",
    "organizationId": "acme",
    "senderAccountId": "unipile-acc-1",
    "graph": {
        "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
        "edges": [{"source": "visit", "target": "done"}],
    },
    "leads": [{"linkedin_url": "https://www.linkedin.com/in/ana-garcia", "first_name": "Ana"}],
}
#: The same leads as CSV (a header row, one lead a line).
LEADS_CSV_EXAMPLE = "linkedin_url,first_name\nhttps://www.linkedin.com/in/ana-garcia,Ana\n"

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


def _problem(exc: CampaignProblem) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def _uploaded_csv(form: FormData) -> str:
    """The text of the form's ``file`` field: an uploaded CSV file; 422 when it is missing."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise CampaignProblem(422, [{"loc": ["body", "file"], "msg": "expected a CSV file in the form field 'file'"}])
    return decode_csv(await upload.read(), where="file")


async def _create_body(request: Request) -> CreateCampaign:
    """The campaign from a JSON body, or from a form: the JSON in field ``campaign``, its leads
    (optionally) as the uploaded CSV ``file``. Invalid fields are FastAPI's usual 422."""
    raw: str | bytes | UploadFile | None
    csv_text: str | None = None
    if _is_multipart(request):
        async with request.form() as form:
            raw = form.get("campaign")
            if form.get("file") is not None:
                csv_text = await _uploaded_csv(form)
    else:
        raw = await request.body()
    if not isinstance(raw, str | bytes):
        problem = {"loc": ["body", "campaign"], "msg": "expected the campaign as JSON in the form field 'campaign'"}
        raise CampaignProblem(422, [problem])
    try:
        body = CreateCampaign.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
    if csv_text is not None:
        if body.leads_csv:
            problem = {"loc": ["body", "file"], "msg": "give the CSV as a file or as leadsCsv, not both"}
            raise CampaignProblem(422, [problem])
        body.leads_csv = csv_text
    return body


@router.post(
    "",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": CreateCampaign.model_json_schema(by_alias=True),
                    "example": CAMPAIGN_EXAMPLE,
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["campaign"],
                        "properties": {
                            "campaign": {"type": "string", "description": "the JSON body, as text"},
                            "file": {"type": "string", "format": "binary", "description": "the leads as CSV"},
                        },
                    },
                    "example": {
                        "campaign": json.dumps({k: v for k, v in CAMPAIGN_EXAMPLE.items() if k != "leads"}),
                        "file": LEADS_CSV_EXAMPLE,
                    },
                },
            },
        }
    },
)
async def create_campaign(request: Request, services: ServicesDep, principal: PrincipalDep) -> Any:
    """Validate the graph (422 lists every fault with its node id) and the leads, then save.

    The body is the campaign as JSON, or a ``multipart/form-data`` form with the same JSON in
    field ``campaign`` and the lead list as an uploaded CSV ``file``."""
    try:
        body = await _create_body(request)
        created = await CampaignControl(services, organization=principal.organization).create(body)
    except CampaignProblem as exc:
        return _problem(exc)
    return created.model_dump()


@router.post(
    "/{campaign_id}/leads",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                    "example": CAMPAIGN_EXAMPLE["leads"],
                },
                "text/csv": {"schema": {"type": "string"}, "example": LEADS_CSV_EXAMPLE},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary", "description": "the leads as CSV"}
                        },
                    },
                    "example": {"file": LEADS_CSV_EXAMPLE},
                },
            },
        }
    },
)
async def add_leads(campaign_id: str, request: Request, services: ServicesDep, principal: PrincipalDep) -> Any:
    """Append leads: a JSON list of objects, CSV text (``Content-Type: text/csv``) or an
    uploaded CSV file (``multipart/form-data``, field ``file``). Duplicates are counted, not added."""
    try:
        if _is_multipart(request):
            async with request.form() as form:
                leads = parse_leads(csv_text=await _uploaded_csv(form))
        elif request.headers.get("content-type", "").startswith("text/csv"):
            leads = parse_leads(csv_text=decode_csv(await request.body(), where="body"))
        else:
            try:
                payload = await request.json()
            except ValueError:  # not JSON at all
                payload = None
            if not isinstance(payload, list):
                raise CampaignProblem(422, [{"loc": ["body"], "msg": "expected a JSON list of leads"}])
            leads = parse_leads(payload)
        created = await CampaignControl(services, organization=principal.organization).add_leads(campaign_id, leads)
    except CampaignProblem as exc:
        return _problem(exc)
    return created.model_dump()


@router.post(
    "/{campaign_id}/start",
    status_code=202,
    openapi_extra=body_example({"organizationId": "acme", "maxConcurrentLeads": 100, "leadProcessingDelay": 30}),
)
async def start_campaign(
    campaign_id: str, body: StartCampaign, services: ServicesDep, wf: WorkflowsDep, response: Response
) -> Any:
    try:
        outcome = await CampaignControl(services, wf).start(campaign_id, body)
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "workflowId": outcome.workflow_id, "runId": outcome.run_id}


@router.post("/{campaign_id}/pause", status_code=202, openapi_extra=body_example({"reason": "holiday week"}))
async def pause_campaign(
    campaign_id: str, services: ServicesDep, wf: WorkflowsDep, body: PauseCampaign | None = None
) -> Any:
    try:
        await CampaignControl(services, wf).pause(campaign_id, (body or PauseCampaign()).reason)
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


@router.post(
    "/{campaign_id}/stop",
    status_code=202,
    openapi_extra=body_example({"completeCurrentExecutions": True, "reason": "goal met"}),
)
async def stop_campaign(
    campaign_id: str, services: ServicesDep, wf: WorkflowsDep, body: StopCampaign | None = None
) -> Any:
    try:
        await CampaignControl(services, wf).stop(campaign_id, body or StopCampaign())
    except CampaignProblem as exc:
        return _problem(exc)
    return {"campaignId": campaign_id, "signal": "stop"}


def _campaign_cursor(campaign: Any) -> str:
    return base64.urlsafe_b64encode(f"{campaign.created_at.isoformat()}|{campaign.id}".encode()).decode()


def _read_cursor(token: str) -> tuple[datetime, str]:
    try:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        at, _, key = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        if not key:
            raise ValueError("no id")
        return datetime.fromisoformat(at), key
    except ValueError:
        raise CampaignProblem(
            422, [{"loc": ["query", "page_token"], "msg": "not a token this API returned", "type": "value_error"}]
        ) from None


@router.get("")
async def list_campaigns(
    services: ServicesDep,
    principal: PrincipalDep,
    status: Literal["draft", "running", "paused", "stopped", "completed", "failed"] | None = Query(default=None),
    organization_id: str | None = Query(
        default=None, alias="organizationId", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="operator only"
    ),
    page_size: int = Query(default=50, ge=1, le=500),
    page_token: str | None = Query(default=None, max_length=400),
) -> Any:
    """The caller's campaigns, newest first (the operator's key: every organization's, or
    ``organizationId``'s), with their stored state and lead count; cursor pagination."""
    if organization_id is not None and not principal.operator and organization_id != principal.organization:
        return _problem(
            CampaignProblem(
                403,
                f"the query names organization {organization_id!r}, but this key belongs to {principal.organization!r}",
            )
        )
    try:
        before = _read_cursor(page_token) if page_token else None
    except CampaignProblem as exc:
        return _problem(exc)
    owner = principal.organization if not principal.operator else organization_id
    found = await Campaigns(services.database).newest(
        organization=owner, status=status, before=before, limit=page_size + 1
    )
    page = found[:page_size]
    return {
        "campaigns": [
            {
                "campaignId": c.id,
                "name": c.name,
                "organizationId": c.organization_id,
                "senderAccountId": c.sender_account_id,
                "status": c.status,
                "leadCount": c.lead_count,
                "createdAt": c.created_at.isoformat(),
                "startedAt": c.started_at.isoformat() if c.started_at else None,
                "completedAt": c.completed_at.isoformat() if c.completed_at else None,
            }
            for c in page
        ],
        "next_page_token": _campaign_cursor(page[-1]) if len(found) > page_size else None,
    }


@router.get("/{campaign_id}/status")
async def campaign_status(campaign_id: str, services: ServicesDep, wf: WorkflowsDep) -> Any:
    try:
        return await CampaignControl(services, wf).status(campaign_id)
    except CampaignProblem as exc:
        return _problem(exc)


# --- the seed's routes: the campaign named in the body (or the query), the same answers ------
@router.post(
    "/start",
    status_code=202,
    openapi_extra=body_example({"campaignId": "cmp_1", "organizationId": "acme", "maxConcurrentLeads": 100}),
)
async def start_named_campaign(
    body: StartNamedCampaign, services: ServicesDep, wf: WorkflowsDep, response: Response
) -> Any:
    """``POST /api/campaigns/start {campaignId, organizationId, maxConcurrentLeads, leadProcessingDelay}``."""
    return await start_campaign(body.campaign_id, body, services, wf, response)


@router.post("/pause", status_code=202, openapi_extra=body_example({"campaignId": "cmp_1", "reason": "holiday week"}))
async def pause_named_campaign(body: PauseNamedCampaign, services: ServicesDep, wf: WorkflowsDep) -> Any:
    return await pause_campaign(body.campaign_id, services, wf, body)


@router.post("/resume", status_code=202, openapi_extra=body_example({"campaignId": "cmp_1"}))
async def resume_named_campaign(body: ResumeNamedCampaign, services: ServicesDep, wf: WorkflowsDep) -> Any:
    return await resume_campaign(body.campaign_id, services, wf)


@router.post(
    "/stop", status_code=202, openapi_extra=body_example({"campaignId": "cmp_1", "completeCurrentExecutions": False})
)
async def stop_named_campaign(body: StopNamedCampaign, services: ServicesDep, wf: WorkflowsDep) -> Any:
    return await stop_campaign(body.campaign_id, services, wf, body)


@router.get("/status")
async def named_campaign_status(
    services: ServicesDep, wf: WorkflowsDep, campaign_id: str = Query(alias="campaignId", min_length=1, max_length=64)
) -> Any:
    """``GET /api/campaigns/status?campaignId=…``."""
    return await campaign_status(campaign_id, services, wf)
