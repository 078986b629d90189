"""``POST /api/bookings`` books a demo (the DemoBookingWorkflow saga); ``GET /api/bookings/{id}``
shows where it is and, once done, what it did.

An impossible slot (past, or end not after start) is a 422 naming ``start``/``end`` before
anything starts. With ``USE_TEMPORAL_BOOKING`` off the saga runs inline in the request instead:
the workflow's own :func:`~followthrough.processes.bookings.workflow.booking_saga` on
:class:`~followthrough.temporal.steps.InlineSteps` (the same activities in the same order,
undone in reverse on a failure), but nothing retries and nothing survives a crash
(``"mode": "inline"``); its follow-ups are still started as workflows when
``USE_TEMPORAL_FOLLOWUPS`` is on (the seed's phase 1), and reported as not scheduled
otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from temporalio.exceptions import ApplicationError

from followthrough.api.deps import ServicesDep, SettingsDep, workflows_for
from followthrough.api.flags import (
    Feature,
    InlineRunsDep,
    flagged_status,
    integrations_on,
    log_inline,
    use_temporal,
)
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.api.routes.workflows import started
from followthrough.bounds import WithinHorizon
from followthrough.processes.bookings.rules import (
    DEMO_FOLLOWUP_TYPES,
    BookDemoInput,
    BookDemoResult,
    BookingStatus,
    booking_workflow_id,
    followup_workflow_id,
    slot_problem,
)
from followthrough.processes.bookings.workflow import StartFollowups, booking_saga
from followthrough.processes.followups.rules import FollowUpInput
from followthrough.temporal.operations import Workflows
from followthrough.temporal.steps import InlineSteps

router = APIRouter(prefix="/api/bookings", tags=["sales assistant"])


class BookDemoRequest(WithinHorizon, BookDemoInput):
    """The booking input; the slot within ten years of now."""


@router.post(
    "",
    status_code=202,
    openapi_extra=body_example(
        {"lead": LEAD, "start": "2027-03-02T15:00:00Z", "end": "2027-03-02T15:30:00Z", "timezone": "Europe/Madrid"}
    ),
)
async def book_demo(
    body: BookDemoRequest,
    response: Response,
    request: Request,
    settings: SettingsDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Start ``booking-{lead}-{slot}``; the same lead and slot again returns that booking,
    running or done (with its result): a booking is never made, nor synced, twice.

    Temporal is reached only when a flag needs it, so the inline path works with Temporal down.
    """
    problem = slot_problem(body.start, body.end, datetime.now(UTC))
    if problem is not None:
        field = "end" if "not after" in problem or "at most" in problem else "start"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", field], "msg": problem, "type": "value_error"}],
        )
    workflow_id = booking_workflow_id(body.lead.id, body.start)
    if not use_temporal(settings, Feature.BOOKING):
        log_inline(settings, Feature.BOOKING, "a demo booking", workflow_id=workflow_id, lead_id=body.lead.id)
        followups_wf = await workflows_for(request) if use_temporal(settings, Feature.FOLLOWUPS) else None
        steps = InlineSteps(services, workflow_id)
        result = await booking_saga(steps, body, BookingStatus(), inline_followups(followups_wf))
        response.status_code = status.HTTP_200_OK if result.ok else status.HTTP_409_CONFLICT
        return {"workflow_id": workflow_id, "run_id": None, "mode": "inline", "result": result.model_dump(mode="json")}
    wf = await workflows_for(request)
    # The booking's own integration sync follows USE_TEMPORAL_INTEGRATIONS like the sync route.
    body = body.model_copy(update={"sync_integrations": body.sync_integrations and integrations_on(settings)})
    outcome = await wf.start(
        "DemoBookingWorkflow", body, workflow_id=workflow_id, search_attributes={"LeadId": body.lead.id}
    )
    return {**await started(wf, outcome, response), "mode": "temporal"}


@router.get("")
async def list_bookings(page: ListPageDep, request: Request) -> dict[str, Any]:
    """The bookings the key sees, newest first; ``lead_id``, ``status``, paginated."""
    return await page.list(await workflows_for(request), "DemoBookingWorkflow")


@router.get("/{workflow_id}")
async def booking_status(workflow_id: str, request: Request, inline: InlineRunsDep) -> dict[str, Any]:
    return await flagged_status(workflow_id, request, inline)


def inline_followups(followups: Workflows | None) -> StartFollowups:
    """The saga's last step inline: the follow-ups as workflows when ``USE_TEMPORAL_FOLLOWUPS``
    is on (``followups`` is then the client), otherwise noted as not scheduled."""

    async def start(input: BookDemoInput, result: BookDemoResult) -> None:
        if followups is None:
            result.error = "follow-ups not scheduled: USE_TEMPORAL_FOLLOWUPS is off"
            return
        for followup_type in DEMO_FOLLOWUP_TYPES:
            try:
                outcome = await followups.start(
                    "FollowUpWorkflow",
                    FollowUpInput(
                        lead=input.lead,
                        type=followup_type,
                        demo_start=input.start,
                        demo_end=input.end,
                        triggered_at=datetime.now(UTC),
                    ),
                    workflow_id=followup_workflow_id(input.lead.id, followup_type),
                    search_attributes={"LeadId": input.lead.id},
                    rerun_closed=True,  # a new demo's reminders, though an earlier demo's are done
                )
            except Exception as exc:  # the saga undoes the booking, as the workflow would
                raise ApplicationError(str(exc), type=type(exc).__name__) from exc
            result.followups.append(outcome.workflow_id)

    return start
