"""``POST /api/bookings`` books a demo (the DemoBookingWorkflow saga); ``GET /api/bookings/{id}``
shows where it is and, once done, what it did.

An impossible slot (past, or end not after start) is a 422 naming ``start``/``end`` before
anything starts. With ``USE_TEMPORAL_BOOKING`` off the saga runs inline in the request instead:
the same activities in the same order, undone in reverse on a failure, but nothing retries and
nothing survives a crash (``"mode": "inline"``); its follow-ups are still started as workflows
when ``USE_TEMPORAL_FOLLOWUPS`` is on (the seed's phase 1), and reported as not scheduled
otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from followthrough.api.deps import ServicesDep, SettingsDep, workflows_for
from followthrough.api.flags import (
    Feature,
    InlineRunsDep,
    flagged_status,
    inline_activity,
    integrations_on,
    log_inline,
    use_temporal,
)
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.api.routes.workflows import closed_outcome
from followthrough.bounds import WithinHorizon
from followthrough.leads.models import SetStageInput
from followthrough.processes.bookings.rules import (
    DEMO_FOLLOWUP_TYPES,
    UNDO,
    BookDemoInput,
    BookDemoResult,
    CancelAppointmentInput,
    Compensation,
    CreateAppointmentInput,
    Step,
    attendee_email,
    booking_idempotency_key,
    booking_workflow_id,
    confirmation_idempotency_key,
    confirmation_text,
    followup_workflow_id,
    slot_problem,
)
from followthrough.processes.followups.rules import FollowUpInput
from followthrough.providers.contracts.calendar import CancelBookingInput, CreateBookingInput
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.services import Services
from followthrough.temporal.operations import Workflows

log = logging.getLogger(__name__)

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
        result = await run_saga_inline(services, body, workflow_id, followups_wf)
        response.status_code = status.HTTP_200_OK if result.ok else status.HTTP_409_CONFLICT
        return {"workflow_id": workflow_id, "run_id": None, "mode": "inline", "result": result.model_dump(mode="json")}
    wf = await workflows_for(request)
    # The booking's own integration sync follows USE_TEMPORAL_INTEGRATIONS like the sync route.
    body = body.model_copy(update={"sync_integrations": body.sync_integrations and integrations_on(settings)})
    outcome = await wf.start(
        "DemoBookingWorkflow", body, workflow_id=workflow_id, search_attributes={"LeadId": body.lead.id}
    )
    response.status_code = status.HTTP_202_ACCEPTED if outcome.created else status.HTTP_200_OK
    return {
        "workflow_id": outcome.workflow_id,
        "run_id": outcome.run_id,
        "created": outcome.created,
        "mode": "temporal",
        **await closed_outcome(wf, outcome),
    }


@router.get("")
async def list_bookings(page: ListPageDep, request: Request) -> dict[str, Any]:
    """The bookings the key sees, newest first; ``lead_id``, ``status``, paginated."""
    return await page.list(await workflows_for(request), "DemoBookingWorkflow")


@router.get("/{workflow_id}")
async def booking_status(workflow_id: str, request: Request, inline: InlineRunsDep) -> dict[str, Any]:
    return await flagged_status(workflow_id, request, inline)


async def run_saga_inline(
    services: Services, input: BookDemoInput, workflow_id: str, followups: Workflows | None
) -> BookDemoResult:
    """The saga without Temporal: each activity once, the undos in reverse on a failure."""
    result = BookDemoResult(ok=False, lead_id=input.lead.id, start=input.start, end=input.end)
    undo: list[tuple[Compensation, Callable[[], Awaitable[Any]]]] = []
    step: Step = "calendar_booking"
    key = booking_idempotency_key(input.lead.id, input.start)
    try:
        booking = await inline_activity(services, "calendar.create_booking")(
            CreateBookingInput(
                start=input.start,
                attendee_name=input.lead.name or input.lead.id,
                attendee_email=attendee_email(input.lead),
                attendee_phone=input.lead.phone,
                attendee_time_zone=input.timezone,
                attendee_language=input.lead.language,
                event_type_id=input.event_type_id,
                metadata={"lead_id": input.lead.id, "workflow_id": workflow_id},
                idempotency_key=key,
            )
        )
        result.booking_id = booking.uid
        cancel = CancelBookingInput(uid=booking.uid, reason="the demo booking failed", idempotency_key=f"{key}:cancel")
        undo.append((UNDO[step], lambda: inline_activity(services, "calendar.cancel_booking")(cancel)))
        result.completed.append(step)

        step = "appointment"
        appointment = await inline_activity(services, "appointments.create")(
            CreateAppointmentInput(
                lead=input.lead, booking_id=booking.uid, start=input.start, end=input.end, workflow_id=workflow_id
            )
        )
        result.appointment_id = appointment.id
        undo_appt = CancelAppointmentInput(appointment_id=appointment.id)
        undo.append((UNDO[step], lambda: inline_activity(services, "appointments.cancel")(undo_appt)))
        result.completed.append(step)

        step = "lead_stage"
        previous = await inline_activity(services, "leads.set_stage")(
            SetStageInput(lead_id=input.lead.id, stage="demo_scheduled")
        )
        result.previous_stage = previous
        restore = SetStageInput(lead_id=input.lead.id, stage=previous or "new")  # type: ignore[arg-type]
        undo.append((UNDO[step], lambda: inline_activity(services, "leads.set_stage")(restore)))
        result.completed.append(step)

        step = "confirmation"
        sent = await inline_activity(services, "messaging.send")(
            SendMessageInput(
                to=input.lead.phone,
                text=confirmation_text(input.lead, input.start),
                idempotency_key=confirmation_idempotency_key(input.lead.id, input.start),
            )
        )
        result.confirmation_message_id = sent.message_id
        result.completed.append(step)

        step = "followups"
        if followups is None:
            result.error = "follow-ups not scheduled: USE_TEMPORAL_FOLLOWUPS is off"
        else:
            for followup_type in DEMO_FOLLOWUP_TYPES:
                outcome = await followups.start(
                    "FollowUpWorkflow",
                    FollowUpInput(
                        lead=input.lead,
                        type=followup_type,  # type: ignore[arg-type]
                        demo_start=input.start,
                        demo_end=input.end,
                        triggered_at=datetime.now(UTC),
                    ),
                    workflow_id=followup_workflow_id(input.lead.id, followup_type),
                    search_attributes={"LeadId": input.lead.id},
                    rerun_closed=True,  # a new demo's reminders, though an earlier demo's are done
                )
                result.followups.append(outcome.workflow_id)
        result.completed.append(step)
    except Exception as exc:  # best effort: undo what was done, report the rest
        result.failed_step = step
        result.error = str(getattr(exc, "message", None) or exc)
        result.error_type = getattr(exc, "type", None) or type(exc).__name__
        for name, action in reversed(undo):
            try:
                await action()
                result.compensated.append(name)
            except Exception:  # inline has no retries: leave it logged for a person
                log.exception("inline booking %s: %s failed; undo it by hand", workflow_id, name)
        return result
    result.ok = True
    return result
