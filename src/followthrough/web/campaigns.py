"""Campaign pages: the list, a campaign's funnel drawn on its graph, its sender's caps used
today, and pause / resume / stop through the same :class:`CampaignControl` as the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from followthrough.api.deps import workflows_for
from followthrough.processes.campaigns.control import (
    STATUS_QUERY_TIMEOUT,
    CampaignControl,
    CampaignProblem,
    StopCampaign,
)
from followthrough.processes.campaigns.graph import ActionType, parse_graph
from followthrough.processes.campaigns.sending_window import sender_workflow_id
from followthrough.processes.senders.rules import account_limits
from followthrough.services import Services
from followthrough.store.models import Campaign
from followthrough.store.repositories import CampaignExecutions, Campaigns, SenderAccounts
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.operations import QueryFailed, QueryNotAnswered, WorkflowNotFound, WorkflowTaskFailing
from followthrough.web.funnel import NODE_HEIGHT, NODE_WIDTH, funnel, layout
from followthrough.web.pages import PageNotFound, render, temporal_link
from followthrough.web.session import SessionDep

router = APIRouter()

FINISHED = ("completed", "failed", "stopped", "goal_reached")


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _rate(campaign: Campaign, finished: int, now: datetime) -> float | None:
    """Leads finished per hour since the campaign started."""
    if campaign.started_at is None:
        return None
    hours = max((now - campaign.started_at).total_seconds() / 3600, 1 / 60)
    return finished / hours


async def _rows(request: Request, organization: str | None) -> list[dict[str, Any]]:
    services = _services(request)
    campaigns = await Campaigns(services.database).newest(organization=organization, limit=100)
    counts = await CampaignExecutions(services.database).status_counts_for([c.id for c in campaigns])
    now = datetime.now(UTC)
    rows = []
    for campaign in campaigns:
        states = counts.get(campaign.id, {})
        finished = sum(states.get(s, 0) for s in FINISHED)
        rows.append(
            {
                "campaign": campaign,
                "states": states,
                "finished": finished,
                "progress": finished / campaign.lead_count if campaign.lead_count else 0.0,
                "rate": _rate(campaign, finished, now),
            }
        )
    return rows


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, principal: SessionDep) -> Response:
    return render(request, "campaigns.html", rows=await _rows(request, principal.organization))


@router.get("/campaigns/rows", response_class=HTMLResponse)
async def campaigns_rows(request: Request, principal: SessionDep) -> Response:
    """The list's rows alone: what the page polls."""
    return render(request, "campaign_rows.html", rows=await _rows(request, principal.organization))


async def _own(request: Request, campaign_id: str, principal: SessionDep) -> Campaign:
    """The signed-in organization's campaign ``campaign_id``; another's answers like a missing one."""
    campaign = await Campaigns(_services(request).database).get(campaign_id)
    if campaign is None or campaign.organization_id != principal.organization:
        raise PageNotFound("campaign")
    return campaign


#: A page's campaign, once its owner is checked (after the session: signed out goes to sign-in).
OwnCampaign = Annotated[Campaign, Depends(_own)]


async def _caps(request: Request, sender_account_id: str | None) -> list[dict[str, Any]]:
    """Each action's use of the sender's caps today (and the invitations' this week), as the
    sender's coordinator (``sender-{account}``, the one ledger of its grants) answers its
    ``status`` query; none used while it has not started."""
    services = _services(request)
    account = await SenderAccounts(services.database).get(sender_account_id) if sender_account_id else None
    if account is None:
        return []
    limits = account_limits(account)
    today: dict[str, int] = {}
    week = 0
    try:
        workflows = await workflows_for(request)
        answer = await asyncio.wait_for(
            workflows.query(sender_workflow_id(account.id), "status", internal=True), STATUS_QUERY_TIMEOUT
        )
        ledger = answer if isinstance(answer, dict) else answer.model_dump(mode="json")
        today, week = ledger.get("today") or {}, int(ledger.get("this_week_invitations") or 0)
    except (WorkflowNotFound, TimeoutError, TemporalUnavailable, QueryFailed, QueryNotAnswered, WorkflowTaskFailing):
        pass
    caps = [
        {"action": a.value, "period": "today", "used": int(today.get(a.value, 0)), "cap": limits.daily_cap(a.value)}
        for a in ActionType
    ]
    weekly = limits.weekly_cap(ActionType.SEND_INVITATION.value)
    if weekly is not None:
        caps.append({"action": ActionType.SEND_INVITATION.value, "period": "this week", "used": week, "cap": weekly})
    return caps


async def _live(request: Request, campaign: Campaign) -> dict[str, Any]:
    """The campaign's numbers: the status route's answer (same control code), the funnel from
    the store, the sender's caps."""
    services = _services(request)
    graph, _ = parse_graph(campaign.graph)
    counts, unstarted = await CampaignExecutions(services.database).step_counts(campaign.id)
    status: dict[str, Any] | None = None
    problem: str | None = None
    try:
        status = await CampaignControl(services, await workflows_for(request)).status(campaign.id)
    except Exception as exc:  # Temporal down or slow: the store's numbers still show
        problem = f"live status unavailable: {type(exc).__name__}"
    orchestrator = (status or {}).get("orchestrator") or {}
    return {
        "campaign": campaign,
        "graph": graph,
        "funnel": funnel(graph, counts, unstarted) if graph else None,
        "layout": layout(graph) if graph else None,
        "sizes": {"NODE_WIDTH": NODE_WIDTH, "NODE_HEIGHT": NODE_HEIGHT},
        "status": status,
        "totals": orchestrator.get("totals"),
        "state": orchestrator.get("state") or campaign.status,
        "problem": problem,
        "caps": await _caps(request, campaign.sender_account_id),
        "temporal": temporal_link(services.settings, f"campaign-{campaign.id}"),
    }


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(request: Request, campaign: OwnCampaign) -> Response:
    return render(request, "campaign.html", **await _live(request, campaign))


@router.get("/campaigns/{campaign_id}/live", response_class=HTMLResponse)
async def campaign_live(request: Request, campaign: OwnCampaign) -> Response:
    return render(request, "campaign_live.html", **await _live(request, campaign))


@router.get("/campaigns/{campaign_id}/stop", response_class=HTMLResponse)
async def confirm_stop(request: Request, campaign: OwnCampaign) -> Response:
    return render(request, "confirm_stop.html", campaign=campaign)


async def _control(request: Request, campaign: Campaign, verb: str, **extra: Any) -> Response:
    control = CampaignControl(_services(request), await workflows_for(request))
    try:
        if verb == "pause":
            await control.pause(campaign.id, "paused from the web app")
        elif verb == "resume":
            await control.resume(campaign.id)
        else:
            await control.stop(campaign.id, StopCampaign(**extra))
    except CampaignProblem as exc:
        context = await _live(request, campaign)
        return render(request, "campaign.html", status_code=exc.status, error=str(exc.detail), **context)
    return RedirectResponse(f"/app/campaigns/{campaign.id}", status_code=303)


@router.post("/campaigns/{campaign_id}/pause")
async def pause(request: Request, campaign: OwnCampaign) -> Response:
    return await _control(request, campaign, "pause")


@router.post("/campaigns/{campaign_id}/resume")
async def resume(request: Request, campaign: OwnCampaign) -> Response:
    return await _control(request, campaign, "resume")


@router.post("/campaigns/{campaign_id}/stop")
async def stop(request: Request, campaign: OwnCampaign, let_finish: bool = Form(default=False)) -> Response:
    return await _control(
        request,
        campaign,
        "stop",
        complete_current_executions=let_finish,
        reason="stopped from the web app",
    )
