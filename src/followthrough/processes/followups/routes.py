"""``POST /api/followups`` starts a follow-up; ``GET /api/followups/{id}`` shows its schedule.

With ``USE_TEMPORAL_FOLLOWUPS`` off the follow-up runs inline in this process instead: the
same schedule, the same opt-out check and ``messaging.send`` activity, but timers that die with
the process (``"mode": "inline"``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun, inline_activity
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.bounds import WithinHorizon
from followthrough.leads.models import ContactStateInput
from followthrough.processes.followups import rules
from followthrough.processes.followups.rules import FollowUpInput, FollowUpStatus
from followthrough.services import Services

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
    """The workflow's loop without its durability: sleep, check the opt-out, send."""
    state = FollowUpStatus.model_validate(run.status)
    contact_state = inline_activity(services, "leads.contact_state")
    send = inline_activity(services, "messaging.send")

    def publish() -> None:
        run.status = state.model_dump(mode="json")

    try:
        while (step := rules.next_pending(state.steps)) is not None:
            await asyncio.sleep(max(0.0, (step.due_at - datetime.now(UTC)).total_seconds()))
            now = datetime.now(UTC)
            if rules.too_late(step, now):
                update: dict[str, Any] = {"state": "skipped", "reason": "due while this process was busy"}
            elif (await contact_state(ContactStateInput(lead_id=input.lead.id))).opted_out:
                state.state, state.stopped_by = "stopped", "opted_out"
                state.steps = rules.cancel_pending(state.steps, "opted_out")
                return
            else:
                try:
                    sent = await send(rules.send_request(input.lead, input.type, step, input.demo_start))
                    update = {"state": "sent", "sent_at": datetime.now(UTC), "message_id": sent.message_id}
                except Exception as exc:  # best effort, no retries inline: report and go on
                    update = {"state": "skipped", "reason": f"not sent: {type(exc).__name__}: {exc}"}
            state.steps = rules.replace_step(state.steps, step.model_copy(update=update))
            publish()
        state.state = "completed"
    except asyncio.CancelledError:
        state.state, state.stopped_by = "stopped", "cancelled"
        state.steps = rules.cancel_pending(state.steps, "cancelled")
        raise
    finally:
        publish()
