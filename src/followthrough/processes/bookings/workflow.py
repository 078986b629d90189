"""DemoBookingWorkflow: the demo-booking saga.

calendar booking → appointment record → lead stage ``demo_scheduled`` → confirmation message →
``pre_demo_24h``, ``pre_demo_reminder`` and ``post_demo`` follow-ups as children that outlive
this workflow (``ParentClosePolicy.ABANDON``). A step that fails for good (a non-retryable error,
or retries exhausted) undoes the steps before it, last first, each undo retrying until it is
done; the result names the failed step and the undos. A slot in the past or an end before its
start is refused (non-retryable ``ValidationError``) before anything is created.

Once booked (unless the input says ``sync_integrations: false``), ``demo_scheduled`` goes to
HubSpot, Meta and the lead's memory through an ``IntegrationSyncWorkflow`` child that outlives
this one; the booking never waits for it nor undoes anything if it fails.

Id: ``booking-{lead}-{slot start}`` (see :func:`~followthrough.processes.bookings.rules.booking_workflow_id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.models import SetStageInput
    from followthrough.processes.bookings.rules import (
        DEMO_FOLLOWUP_TYPES,
        UNDO,
        AppointmentRecord,
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
    from followthrough.processes.followups.rules import DemoChangedSignal, FollowUpInput, FollowUpType
    from followthrough.processes.integrations.rules import IntegrationSyncInput
    from followthrough.processes.integrations.workflow import start_sync
    from followthrough.providers.contracts.calendar import Booking, CancelBookingInput, CreateBookingInput
    from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
    from followthrough.temporal.children import start_abandoned
    from followthrough.temporal.policies import (
        COMPENSATION_RETRY,
        DEFAULT_RETRY,
        PROVIDER_CALL_TIMEOUT,
        STORE_CALL_TIMEOUT,
    )

#: How long a forward step may keep retrying passing faults before the saga gives up and undoes.
STEP_DEADLINE = timedelta(minutes=30)


Undo = Callable[[], Awaitable[Any]]


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

        result = BookDemoResult(ok=False, lead_id=input.lead.id, start=input.start, end=input.end)
        undo: list[tuple[Compensation, Undo]] = []
        step: Step = "calendar_booking"
        try:
            self._enter(step)
            booking = await self._do(
                "calendar.create_booking",
                CreateBookingInput(
                    start=input.start,
                    attendee_name=input.lead.name or input.lead.id,
                    attendee_email=attendee_email(input.lead),
                    attendee_phone=input.lead.phone,
                    attendee_time_zone=input.timezone,
                    attendee_language=input.lead.language,
                    event_type_id=input.event_type_id,
                    metadata={"lead_id": input.lead.id, "workflow_id": workflow.info().workflow_id},
                    idempotency_key=booking_idempotency_key(input.lead.id, input.start),
                ),
                Booking,
                PROVIDER_CALL_TIMEOUT,
            )
            result.booking_id = booking.uid
            undo.append(
                (
                    UNDO[step],
                    lambda: self._undo(
                        "calendar.cancel_booking",
                        CancelBookingInput(
                            uid=booking.uid,
                            reason="the demo booking could not be completed",
                            idempotency_key=f"{booking_idempotency_key(input.lead.id, input.start)}:cancel",
                        ),
                        PROVIDER_CALL_TIMEOUT,
                    ),
                )
            )
            self._done(step, result)

            step = "appointment"
            self._enter(step)
            appointment = await self._do(
                "appointments.create",
                CreateAppointmentInput(
                    lead=input.lead,
                    booking_id=booking.uid,
                    start=input.start,
                    end=input.end,
                    workflow_id=workflow.info().workflow_id,
                ),
                AppointmentRecord,
                STORE_CALL_TIMEOUT,
            )
            result.appointment_id = appointment.id
            undo.append(
                (
                    UNDO[step],
                    lambda: self._undo(
                        "appointments.cancel", CancelAppointmentInput(appointment_id=appointment.id), STORE_CALL_TIMEOUT
                    ),
                )
            )
            self._done(step, result)

            step = "lead_stage"
            self._enter(step)
            previous_stage: str | None = await self._do(
                "leads.set_stage",
                SetStageInput(lead_id=input.lead.id, stage="demo_scheduled"),
                str | None,
                STORE_CALL_TIMEOUT,
            )
            result.previous_stage = previous_stage
            undo.append(
                (
                    UNDO[step],
                    lambda: self._undo(
                        "leads.set_stage",
                        SetStageInput(lead_id=input.lead.id, stage=previous_stage or "new"),  # type: ignore[arg-type]
                        STORE_CALL_TIMEOUT,
                    ),
                )
            )
            self._done(step, result)

            step = "confirmation"
            self._enter(step)
            sent = await self._do(
                "messaging.send",
                SendMessageInput(
                    to=input.lead.phone,
                    text=confirmation_text(input.lead, input.start),
                    idempotency_key=confirmation_idempotency_key(input.lead.id, input.start),
                ),
                SendMessageResult,
                PROVIDER_CALL_TIMEOUT,
            )
            result.confirmation_message_id = sent.message_id
            self._done(step, result)

            step = "followups"
            self._enter(step)
            for followup_type in DEMO_FOLLOWUP_TYPES:
                result.followups.append(await self._start_followup(input, followup_type))
            self._done(step, result)
        except (ActivityError, ChildWorkflowError, ApplicationError) as err:
            await self._compensate(step, err, undo, result)
            return result
        except asyncio.CancelledError:
            # Cancelled mid-saga: leave nothing half-made, then report the cancellation.
            await self._compensate(step, None, undo, result)
            raise

        result.ok = True
        if input.sync_integrations and result.booking_id:
            result.integration_sync = await start_sync(
                IntegrationSyncInput(
                    lead=input.lead, event="demo_scheduled", event_id=result.booking_id, occurred_at=workflow.now()
                )
            )
        self._status.current_step = "done"
        return result

    # --- steps ----------------------------------------------------------------------------
    async def _do(self, activity: str, arg: Any, result_type: Any, timeout: timedelta) -> Any:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=STEP_DEADLINE,
            retry_policy=DEFAULT_RETRY,
        )

    async def _undo(self, activity: str, arg: Any, timeout: timedelta) -> None:
        await workflow.execute_activity(activity, arg, start_to_close_timeout=timeout, retry_policy=COMPENSATION_RETRY)

    async def _start_followup(self, input: BookDemoInput, followup_type: FollowUpType) -> str:
        """Start one follow-up child; if the lead already has one running (an earlier booking),
        move its timers to this demo instead of starting a twin."""
        child_id = followup_workflow_id(input.lead.id, followup_type)
        child_input = FollowUpInput(
            lead=input.lead,
            type=followup_type,
            demo_start=input.start,
            demo_end=input.end,
            triggered_at=workflow.now(),
        )
        started = await start_abandoned(
            "FollowUpWorkflow", child_input, id=child_id, lead_id=input.lead.id, family="followup"
        )
        if not started:
            await workflow.get_external_workflow_handle(child_id).signal(
                "demo_changed", DemoChangedSignal(demo_start=input.start, demo_end=input.end)
            )
        return child_id

    # --- bookkeeping ----------------------------------------------------------------------
    def _enter(self, step: Step) -> None:
        self._status.current_step = step

    def _done(self, step: Step, result: BookDemoResult) -> None:
        result.completed.append(step)
        self._status.completed.append(step)

    async def _compensate(
        self, step: Step, err: BaseException | None, undo: list[tuple[Compensation, Undo]], result: BookDemoResult
    ) -> None:
        cause = err.cause if isinstance(err, ActivityError | ChildWorkflowError) and err.cause else err
        result.failed_step = step
        result.error = str(cause) if cause is not None else "cancelled"
        result.error_type = getattr(cause, "type", None) or (type(cause).__name__ if cause else "CancelledError")
        self._status.current_step = "compensating"
        workflow.logger.warning("booking step %s failed (%s); undoing %d step(s)", step, result.error, len(undo))
        for name, action in reversed(undo):
            await action()
            result.compensated.append(name)
            self._status.compensated.append(name)
        self._status.current_step = "failed"
