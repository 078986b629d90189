"""``POST /api/followups`` starts a follow-up; ``GET /api/followups/{id}`` shows its schedule.

With ``USE_TEMPORAL_FOLLOWUPS`` off the follow-up runs inline in this process instead: the
same schedule and the workflow's own step (opt-out check, ``messaging.send``), but timers that
die with the process (``"mode": "inline"``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.bounds import WithinHorizon
from followthrough.processes.followups import rules
from followthrough.processes.followups.rules import FollowUpInput, FollowUpStatus
from followthrough.processes.followups.workflow import deliver, stop_followup
from followthrough.services import Services
from followthrough.temporal.steps import InlineSteps

router = APIRouter(prefix="/api/followups", tags=["sales assistant"])


class FollowUpRequest(WithinHorizon, FollowUpInput):
    """The follow-up input; its instants within ten years of now."""


@router.post(
    "",
    status_code=202,
    openapi_extra=body_example(
        {"lead": LEAD, "type": "pre_demo_24h", "demo_start": "2027-03-02T15:00:00Z", "demo_end": "2027-03-02T15:30:00Z"}
    ),
)
async def start_followup(body: FollowUpRequest, route: FlaggedRouteDep) -> dict[str, Any]:
    """Start ``followup-{lead}-{type}``; a second call while it runs returns the running one."""
    now = datetime.now(UTC)
    input = body.model_copy(update={"triggered_at": body.triggered_at or now})
    steps = rules.plan(
        input.type,
        demo_start=input.demo_start,
        demo_end=input.demo_end,
        triggered_at=input.triggered_at or now,
        now=now,
    )
    answer = await route.start(
        Feature.FOLLOWUPS,
        input,
        workflow_id=rules.followup_workflow_id(input.lead.id, input.type),
        lead_id=input.lead.id,
        inline_status=FollowUpStatus(
            lead_id=input.lead.id,
            type=input.type,
            demo_start=input.demo_start,
            demo_end=input.demo_end,
            steps=steps,
        ),
        run_inline=lambda run: _run_inline(route.services, input, run),
    )
    if answer["mode"] == "temporal":
        answer["steps"] = [s.model_dump(mode="json") for s in steps] if answer["created"] else None
    return answer


@router.get("")
async def list_followups(page: ListPageDep, route: FlaggedRouteDep) -> dict[str, Any]:
    """The follow-ups the key sees, newest first; ``lead_id``, ``status``, paginated."""
    return await page.list(await route.workflows(), "FollowUpWorkflow")


@router.get("/{workflow_id}")
async def followup_status(workflow_id: str, route: FlaggedRouteDep) -> dict[str, Any]:
    return await route.status(workflow_id)


async def _run_inline(services: Services, input: FollowUpInput, run: InlineRun) -> None:
    """The workflow's loop without its durability: sleep in-process, then the workflow's own
    :func:`~followthrough.processes.followups.workflow.deliver` on :class:`InlineSteps`."""
    state = FollowUpStatus.model_validate(run.status)
    steps = InlineSteps(services, run.id)

    def publish() -> None:
        run.status = state.model_dump(mode="json")

    try:
        while state.state == "running" and (step := rules.next_pending(state.steps)) is not None:
            await asyncio.sleep(max(0.0, (step.due_at - datetime.now(UTC)).total_seconds()))
            await deliver(steps, input, state, step, lambda reason: stop_followup(state, reason))
            publish()
        if state.state == "running":
            state.state = "completed"
    except asyncio.CancelledError:
        stop_followup(state, "cancelled")
        raise
    finally:
        publish()
