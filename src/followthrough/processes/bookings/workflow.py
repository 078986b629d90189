"""DemoBookingWorkflow: the demo-booking saga.

calendar booking → appointment record → lead stage ``demo_scheduled`` → confirmation message →
``pre_demo_24h``, ``pre_demo_reminder`` and ``post_demo`` follow-ups as children that outlive
this workflow (``ParentClosePolicy.ABANDON``). A step that fails for good (a non-retryable error,
or retries exhausted) undoes the steps before it, last first, each undo retrying until it is
done; the result names the failed step and the undos. A cancellation undoes the same way,
shielded (:class:`~followthrough.temporal.saga.Saga`), and the workflow closes cancelled. A slot
in the past or an end before its start is refused (non-retryable ``ValidationError``) before
anything is created.

The saga is written once, :func:`booking_saga`, against :class:`~followthrough.temporal.steps.Steps`:
this workflow runs it on Temporal, and ``POST /api/bookings`` with ``USE_TEMPORAL_BOOKING`` off
runs the same function inline.

Once booked (unless the input says ``sync_integrations: false``), ``demo_scheduled`` goes to
HubSpot, Meta and the lead's memory through an ``IntegrationSyncWorkflow`` child that outlives
this one; the booking never waits for it nor undoes anything if it fails.

Id: ``booking-{lead}-{slot start}`` (see :func:`~followthrough.processes.bookings.rules.booking_workflow_id`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.activities import LeadActivities
    from followthrough.leads.models import SetStageInput
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.bookings.appointments import AppointmentActivities
    from followthrough.processes.bookings.calendar_activities import CalendarActivities
    from followthrough.processes.bookings.rules import (
        DEMO_FOLLOWUP_TYPES,
        BookDemoInput,
        BookDemoResult,
        BookingStatus,
        CancelAppointmentInput,
        Compensation,
        CreateAppointmentInput,
        Step,
        attendee_email,
        booking_idempotency_key,
        confirmation_idempotency_key,
        confirmation_text,
        followup_workflow_id,
        slot_problem,
    )
    from followthrough.processes.followups.rules import DemoChangedSignal, FollowUpInput
    from followthrough.processes.followups.workflow import start_followup
    from followthrough.processes.integrations.rules import IntegrationSyncInput
    from followthrough.processes.integrations.workflow import start_sync
    from followthrough.providers.contracts.calendar import CancelBookingInput, CreateBookingInput
    from followthrough.providers.contracts.messaging import SendMessageInput
    from followthrough.temporal.policies import (
        COMPENSATION_RETRY,
        DEFAULT_RETRY,
        PROVIDER_CALL_TIMEOUT,
        STORE_CALL_TIMEOUT,
    )
    from followthrough.temporal.saga import Saga, describe
    from followthrough.temporal.steps import STEP_FAILURES, Steps, WorkflowSteps

#: How long a forward step may keep retrying passing faults before the saga gives up and undoes.
STEP_DEADLINE = timedelta(minutes=30)

#: The saga's last step: start the demo's follow-ups, appending their ids to the result.
StartFollowups = Callable[[BookDemoInput, BookDemoResult], Awaitable[None]]


async def booking_saga(
    steps: Steps, input: BookDemoInput, status: BookingStatus, start_followups: StartFollowups
) -> BookDemoResult:
    """The saga, step by step; ``status`` follows it (the workflow's ``status`` query)."""
    result = BookDemoResult(ok=False, lead_id=input.lead.id, start=input.start, end=input.end)
    saga: Saga[Compensation] = Saga(compensated=status.compensated)
    key = booking_idempotency_key(input.lead.id, input.start)
    step: Step = "calendar_booking"

    def enter(next_step: Step) -> Step:
        status.current_step = next_step
        return next_step

    def done(finished: Step) -> None:
        result.completed.append(finished)
        status.completed.append(finished)

    try:
        step = enter("calendar_booking")
        booking = await steps.run(
            CalendarActivities.create_booking,
            CreateBookingInput(
                start=input.start,
                attendee_name=input.lead.name or input.lead.id,
                attendee_email=attendee_email(input.lead),
                attendee_phone=input.lead.phone,
                attendee_time_zone=input.timezone,
                attendee_language=input.lead.language,
                event_type_id=input.event_type_id,
                metadata={"lead_id": input.lead.id, "workflow_id": steps.workflow_id},
                idempotency_key=key,
            ),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=STEP_DEADLINE,
        )
        result.booking_id = booking.uid
        cancel = CancelBookingInput(
            uid=booking.uid, reason="the demo booking could not be completed", idempotency_key=f"{key}:cancel"
        )
        saga.add(
            "cancel_calendar_booking",
            lambda: steps.run(
                CalendarActivities.cancel_booking, cancel, timeout=PROVIDER_CALL_TIMEOUT, retry=COMPENSATION_RETRY
            ),
        )
        done(step)

        step = enter("appointment")
        appointment = await steps.run(
            AppointmentActivities.create,
            CreateAppointmentInput(
                lead=input.lead,
                booking_id=booking.uid,
                start=input.start,
                end=input.end,
                workflow_id=steps.workflow_id,
            ),
            timeout=STORE_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=STEP_DEADLINE,
        )
        result.appointment_id = appointment.id
        undo_appointment = CancelAppointmentInput(appointment_id=appointment.id)
        saga.add(
            "cancel_appointment",
            lambda: steps.run(
                AppointmentActivities.cancel, undo_appointment, timeout=STORE_CALL_TIMEOUT, retry=COMPENSATION_RETRY
            ),
        )
        done(step)

        step = enter("lead_stage")
        previous_stage = await steps.run(
            LeadActivities.set_stage,
            SetStageInput(lead_id=input.lead.id, stage="demo_scheduled"),
            timeout=STORE_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=STEP_DEADLINE,
        )
        result.previous_stage = previous_stage
        restore = SetStageInput(lead_id=input.lead.id, stage=previous_stage or "new")  # type: ignore[arg-type]
        saga.add(
            "restore_lead_stage",
            lambda: steps.run(LeadActivities.set_stage, restore, timeout=STORE_CALL_TIMEOUT, retry=COMPENSATION_RETRY),
        )
        done(step)

        step = enter("confirmation")
        sent = await steps.run(
            MessagingActivities.send,
            SendMessageInput(
                to=input.lead.phone,
                text=confirmation_text(input.lead, input.start),
                idempotency_key=confirmation_idempotency_key(input.lead.id, input.start),
            ),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=STEP_DEADLINE,
        )
        result.confirmation_message_id = sent.message_id
        done(step)

        step = enter("followups")
        await start_followups(input, result)
        done(step)
    except BaseException as err:
        cancelled = is_cancelled_exception(err)
        if not cancelled and not isinstance(err, STEP_FAILURES):
            raise
        result.failed_step = step
        result.error, result.error_type = ("cancelled", "CancelledError") if cancelled else describe(err)
        status.current_step = "compensating"
        steps.logger.warning("booking step %s failed (%s); undoing %s", step, result.error, saga.pending)
        await saga.compensate()  # last first; a cancellation cannot interrupt it
        result.compensated = list(saga.compensated)
        result.compensation_errors = saga.failures
        status.current_step = "failed"
        if cancelled:
            raise
        return result
    result.ok = True
    return result


@workflow.defn
class DemoBookingWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "booking"

    def __init__(self) -> None:
        self._status = BookingStatus()

    @workflow.query
    def status(self) -> BookingStatus:
        return self._status

    @workflow.run
    async def run(self, input: BookDemoInput) -> BookDemoResult:
        problem = slot_problem(input.start, input.end, workflow.now())
        if problem is not None:
            raise ApplicationError(problem, {"field": "start/end"}, type="ValidationError", non_retryable=True)

        result = await booking_saga(WorkflowSteps(), input, self._status, self._start_followups)
        if result.ok and input.sync_integrations and result.booking_id:
            result.integration_sync = await start_sync(
                IntegrationSyncInput(
                    lead=input.lead, event="demo_scheduled", event_id=result.booking_id, occurred_at=workflow.now()
                )
            )
        if result.ok:
            self._status.current_step = "done"
        return result

    async def _start_followups(self, input: BookDemoInput, result: BookDemoResult) -> None:
        """Start each follow-up child; if the lead already has one running (an earlier booking),
        move its timers to this demo instead of starting a twin."""
        for followup_type in DEMO_FOLLOWUP_TYPES:
            child_id = followup_workflow_id(input.lead.id, followup_type)
            child_input = FollowUpInput(
                lead=input.lead,
                type=followup_type,
                demo_start=input.start,
                demo_end=input.end,
                triggered_at=workflow.now(),
            )
            if not await start_followup(child_input, id=child_id):
                await workflow.get_external_workflow_handle(child_id).signal(
                    "demo_changed", DemoChangedSignal(demo_start=input.start, demo_end=input.end)
                )
            result.followups.append(child_id)
