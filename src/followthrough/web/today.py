"""Today: follow-ups due in the next 24 h, demos booked, payments waiting with their reminders,
content awaiting review (approve / reject through the pipeline's ``review`` update) and failed
executions with their root cause.

Running executions come from visibility (the organization's only, at most :data:`PAGE` of each
kind) and each answers its own ``status`` query, in parallel and bounded in time; demos come
from the store. The live part is polled every 5 s.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from followthrough.api.deps import workflows_for
from followthrough.config import Settings
from followthrough.processes.content.rules import ReviewDecision, content_workflow_id
from followthrough.processes.payments.rules import reminder_instants
from followthrough.store.repositories.history import LeadHistories
from followthrough.temporal.operations import ExecutionInfo, UpdateRejected, WorkflowFailed, Workflows
from followthrough.web.pages import render, temporal_link
from followthrough.web.session import SessionDep

router = APIRouter()

PAGE = 50
FAILED_PAGE = 20
TIMEOUT = 1.5


async def _running(wf: Workflows, workflow_type: str, page: int = PAGE) -> list[ExecutionInfo]:
    found, _ = await wf.list(f'WorkflowType = "{workflow_type}" AND ExecutionStatus = "Running"', page_size=page)
    return found


async def _status(wf: Workflows, info: ExecutionInfo) -> tuple[ExecutionInfo, dict[str, Any] | None]:
    try:
        answer = await asyncio.wait_for(wf.query(info.workflow_id, "status", internal=True), TIMEOUT)
    except Exception:  # no worker, closed meanwhile: left out of this refresh
        return info, None
    return info, answer if isinstance(answer, dict) else answer.model_dump(mode="json")


async def _root_cause(wf: Workflows, info: ExecutionInfo) -> tuple[ExecutionInfo, str]:
    try:
        await asyncio.wait_for(wf.result(info.workflow_id), TIMEOUT)
    except WorkflowFailed as exc:
        return info, f"{exc.args[0]}" + (f" ({exc.error_type})" if exc.error_type else "")
    except Exception as exc:
        return info, f"unknown: {type(exc).__name__}"
    return info, "—"


async def _today(request: Request, organization: str) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    horizon = now + timedelta(hours=24)
    demos = await LeadHistories(request.app.state.services.database).upcoming_demos(
        organization, now, now + timedelta(days=7)
    )
    context: dict[str, Any] = {"demos": demos, "followups": [], "payments": [], "content": [], "failed": []}
    context["link"] = lambda workflow_id: temporal_link(settings, workflow_id)
    try:
        wf = await workflows_for(request)
        followups, payments, content = await asyncio.gather(
            _running(wf, "FollowUpWorkflow"), _running(wf, "PaymentWorkflow"), _running(wf, "ContentPipelineWorkflow")
        )
        failed, _ = await wf.list(
            f'ExecutionStatus = "Failed" AND CloseTime > "{(now - timedelta(days=1)).isoformat()}"',
            page_size=FAILED_PAGE,
        )
        statuses = await asyncio.gather(*(_status(wf, i) for i in [*followups, *payments, *content]))
        causes = await asyncio.gather(*(_root_cause(wf, i) for i in failed))
    except Exception as exc:  # Temporal down: the store's part still shows
        context["problem"] = f"executions unavailable: {type(exc).__name__}"
        return context
    for info, status in statuses:
        if status is None:
            continue
        if info.type == "FollowUpWorkflow":
            for step in status.get("steps", []):
                due = datetime.fromisoformat(step["due_at"])
                if step.get("state") == "pending" and due <= horizon:
                    context["followups"].append({"info": info, "lead": status.get("lead_id"), "step": step, "due": due})
        elif info.type == "PaymentWorkflow":
            started = datetime.fromisoformat(status["started_at"]) if status.get("started_at") else info.start_time
            reminders = reminder_instants(started) if started else []
            context["payments"].append({"info": info, "status": status, "reminders": reminders})
        elif status.get("review_pending"):
            context["content"].append({"info": info, "status": status})
    context["followups"].sort(key=lambda f: f["due"])
    context["failed"] = causes
    return context


@router.get("/today", response_class=HTMLResponse)
async def today_page(request: Request, principal: SessionDep) -> Response:
    return render(request, "today.html", **await _today(request, principal.organization or ""))


@router.get("/today/live", response_class=HTMLResponse)
async def today_live(request: Request, principal: SessionDep) -> Response:
    return render(request, "today_live.html", **await _today(request, principal.organization or ""))


@router.post("/content/{content_id}/review")
async def review(
    request: Request,
    content_id: str,
    principal: SessionDep,
    approved: bool = Form(),
    notes: str = Form(default="", max_length=5000),
) -> Response:
    """The pipeline's ``review`` update, as ``POST /api/content/{id}/review`` sends it."""
    decision = ReviewDecision(approved=approved, notes=notes, reviewer=f"web:{principal.key_id}")
    wf = await workflows_for(request)
    try:
        await wf.update(content_workflow_id(content_id), "review", decision, internal=True)
    except UpdateRejected as exc:
        context = await _today(request, principal.organization or "")
        return render(request, "today.html", status_code=409, error=exc.reason, **context)
    except LookupError:
        context = await _today(request, principal.organization or "")
        return render(request, "today.html", status_code=404, error="no such content", **context)
    return RedirectResponse("/app/today", status_code=303)
