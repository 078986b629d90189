"""Today: follow-ups due in the next 24 h, demos booked, payments waiting with their reminders,
content awaiting review (approve / reject through the pipeline's ``review`` update) and failed
executions with their root cause.

A refresh costs a bounded number of backend calls whatever the number of executions: demos and
payments come from the store; content from one visibility list (the organization's running
pipelines) narrowed in the store to the drafts waiting for review; follow-ups from one
visibility list, of which at most :data:`MAX_QUERIES` answer their ``status`` query per refresh
(a status read stays good for :data:`FRESH` seconds: its schedule moves only on a reply or a
demo moved); failures from one visibility list, at most :data:`MAX_CAUSES` root causes read per
refresh (a closed execution's cause never changes, so it is read once). In all: 3 visibility
lists, at most 15 other Temporal calls and 3 store queries (besides the session's). The live
part is polled every 5 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
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
#: Per refresh, at most this many follow-ups are asked for their status, and this many failed
#: executions for their root cause.
MAX_QUERIES = 10
MAX_CAUSES = 5
#: Seconds a follow-up's status read is shown before it is read again.
FRESH = 30.0
#: Root causes remembered (closed executions: they never change).
MAX_REMEMBERED = 2000


class Recent:
    """What Today has already read from Temporal, shared by the process's requests: follow-up
    statuses by run id with the instant they were read, root causes by run id."""

    def __init__(self) -> None:
        self.statuses: dict[str, tuple[float, dict[str, Any]]] = {}
        self.causes: OrderedDict[str, str] = OrderedDict()

    def stale_first(self, infos: list[ExecutionInfo], now: float) -> list[ExecutionInfo]:
        """The executions whose status is missing or older than :data:`FRESH`, never read first."""
        stale = [i for i in infos if now - self.statuses.get(i.run_id, (-FRESH * 2, {}))[0] >= FRESH]
        return sorted(stale, key=lambda i: self.statuses.get(i.run_id, (float("-inf"), {}))[0])

    def forget_old(self, now: float) -> None:
        for run_id in [r for r, (at, _) in self.statuses.items() if now - at > FRESH * 10]:
            del self.statuses[run_id]

    def remember_cause(self, run_id: str, cause: str) -> None:
        self.causes[run_id] = cause
        while len(self.causes) > MAX_REMEMBERED:
            self.causes.popitem(last=False)


def _recent(request: Request) -> Recent:
    state = request.app.state
    if getattr(state, "web_today", None) is None:
        state.web_today = Recent()
    return state.web_today  # type: ignore[no-any-return]


async def _running(wf: Workflows, workflow_type: str, page: int = PAGE) -> list[ExecutionInfo]:
    found, _ = await wf.list(f'WorkflowType = "{workflow_type}" AND ExecutionStatus = "Running"', page_size=page)
    return found


async def _status(wf: Workflows, info: ExecutionInfo) -> tuple[ExecutionInfo, dict[str, Any] | None]:
    try:
        answer = await asyncio.wait_for(wf.query(info.workflow_id, "status", internal=True), TIMEOUT)
    except Exception:  # no worker, closed meanwhile: left out of this refresh
        return info, None
    return info, answer if isinstance(answer, dict) else answer.model_dump(mode="json")


async def _root_cause(wf: Workflows, info: ExecutionInfo) -> tuple[ExecutionInfo, str | None]:
    try:
        await asyncio.wait_for(wf.result(info.workflow_id), TIMEOUT)
    except WorkflowFailed as exc:
        return info, f"{exc.args[0]}" + (f" ({exc.error_type})" if exc.error_type else "")
    except Exception:  # slow or unreachable: read again at the next refresh
        return info, None
    return info, "—"


async def _followups(wf: Workflows, recent: Recent, horizon: datetime) -> tuple[list[dict[str, Any]], int]:
    """The steps due before ``horizon`` of the running follow-ups, and how many of those
    follow-ups are not read yet (they come at the next refreshes)."""
    infos = await _running(wf, "FollowUpWorkflow")
    clock = time.monotonic()
    for info, status in await asyncio.gather(*(_status(wf, i) for i in recent.stale_first(infos, clock)[:MAX_QUERIES])):
        if status is not None:
            recent.statuses[info.run_id] = (clock, status)
    recent.forget_old(clock)
    due, unread = [], 0
    for info in infos:
        if info.run_id not in recent.statuses:
            unread += 1
            continue
        status = recent.statuses[info.run_id][1]
        for step in status.get("steps", []):
            at = datetime.fromisoformat(step["due_at"])
            if step.get("state") == "pending" and at <= horizon:
                due.append({"info": info, "lead": status.get("lead_id"), "step": step, "due": at})
    return sorted(due, key=lambda f: f["due"]), unread


async def _failed(wf: Workflows, recent: Recent, since: datetime) -> list[tuple[ExecutionInfo, str]]:
    query = f'ExecutionStatus = "Failed" AND CloseTime > "{since.isoformat()}"'
    failed, _ = await wf.list(query, page_size=FAILED_PAGE)
    unknown = [i for i in failed if i.run_id not in recent.causes][:MAX_CAUSES]
    for info, cause in await asyncio.gather(*(_root_cause(wf, i) for i in unknown)):
        if cause is not None:
            recent.remember_cause(info.run_id, cause)
    return [(i, recent.causes.get(i.run_id, "root cause not read yet")) for i in failed]


async def _today(request: Request, organization: str) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    histories = LeadHistories(request.app.state.services.database)
    demos = await histories.upcoming_demos(organization, now, now + timedelta(days=7))
    payments = [
        {"payment": p, "reminders": [(r, r <= now) for r in reminder_instants(p.created_at)]}
        for p in await histories.waiting_payments(organization, PAGE)
    ]
    context: dict[str, Any] = {"demos": demos, "payments": payments, "followups": [], "content": [], "failed": []}
    context["link"] = lambda workflow_id: temporal_link(settings, workflow_id)
    recent = _recent(request)
    try:
        wf = await workflows_for(request)
        (followups, unread), pipelines, failed = await asyncio.gather(
            _followups(wf, recent, now + timedelta(hours=24)),
            _running(wf, "ContentPipelineWorkflow"),
            _failed(wf, recent, now - timedelta(days=1)),
        )
    except Exception as exc:  # Temporal down: the store's part still shows
        context["problem"] = f"executions unavailable: {type(exc).__name__}"
        return context
    prefix = content_workflow_id("")
    ids = [i.workflow_id.removeprefix(prefix) for i in pipelines if i.workflow_id.startswith(prefix)]
    context.update(followups=followups, unread=unread, failed=failed, content=await histories.awaiting_review(ids))
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
