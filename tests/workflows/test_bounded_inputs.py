"""No input a route accepts leaves a workflow failing its task, or an activity retrying, forever.

On the time-skipping server: the two cases measured on main (a payment whose checkout the
store cannot hold, a content review timeout of 1e300 hours, now refused by the model) and the
largest values the models accept. Each workflow proceeds or closes with a named, non-retryable
error; its history shows no WorkflowTaskFailed and one attempt of the failing activity.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.bounds import INT64_MAX, MAX_DURATION
from followthrough.processes.content.rules import ContentPipelineInput
from followthrough.processes.payments.records import PaymentRecordActivities
from followthrough.processes.payments.rules import PaymentInput, RecordCheckoutInput
from followthrough.services import Services
from followthrough.temporal.worker import ActivityErrors
from tests.processes.content.test_content import FakeLLM, FakeMessaging, _input
from tests.processes.payments.test_payment import INPUT, WORKFLOWS, Fakes, PaymentWorkflow


def _name(fn: Any) -> str:
    return str(activity._Definition.must_from_callable(fn).name)


async def _no_task_failure_loop(handle: WorkflowHandle[Any, Any]) -> dict[str, int]:
    """Asserts the history holds no WorkflowTaskFailed; answers each activity's last attempt."""
    attempts: dict[int, int] = {}
    names: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, event
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
    return {names[i]: n for i, n in attempts.items()}


async def test_a_checkout_the_store_cannot_hold_fails_the_payment_once_not_forever(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Measured on main: amount 10**19 made record_checkout fail on the store every minute."""

    @activity.defn(name="payment_records.record_checkout")
    async def record_checkout(input: RecordCheckoutInput) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    activities = [a for a in Fakes().activities() if _name(a) != "payment_records.record_checkout"]
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[*activities, record_checkout],
        interceptors=[ActivityErrors()],
    ):
        handle = await ts_env.client.start_workflow(
            PaymentWorkflow.run, INPUT, id=f"payment-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ValidationError" and cause.cause.non_retryable
    assert "OverflowError" in cause.cause.message
    assert (await _no_task_failure_loop(handle))["payment_records.record_checkout"] == 1


async def test_the_largest_amount_accepted_is_recorded_by_the_real_store(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    """At the model's bound (the BigInteger's maximum) the real record activity succeeds."""
    records = PaymentRecordActivities(services)
    keep = {"payment_records.record_checkout", "payment_records.mark"}
    activities = [a for a in Fakes().activities() if _name(a) not in keep]
    largest = INPUT.model_copy(update={"amount": INT64_MAX})
    PaymentInput.model_validate(largest.model_dump())
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[*activities, records.record_checkout, records.mark],
        interceptors=[ActivityErrors()],
    ):
        handle = await ts_env.client.start_workflow(
            PaymentWorkflow.run, largest, id=f"payment-{uuid.uuid4()}", task_queue=task_queue
        )
        result = await handle.result()  # never paid: expires after the payment window

    assert result.state == "expired"
    assert (await _no_task_failure_loop(handle))["payment_records.record_checkout"] == 1


async def test_a_review_timeout_at_the_bound_expires_instead_of_failing_its_task(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    """Measured on main: review_timeout_hours 1e300 failed the workflow task forever. The
    largest accepted (366 days) waits, then expires normally."""
    from followthrough.catalog import activity_methods
    from followthrough.processes.content.activities import ContentActivities
    from followthrough.processes.content.workflow import ContentPipelineWorkflow

    hours = MAX_DURATION / timedelta(hours=1)
    input: ContentPipelineInput = _input(review_timeout_hours=hours, reminder_after_hours=hours - 1)
    llm, messaging = FakeLLM(), FakeMessaging()
    acts = [*activity_methods(ContentActivities(services)), llm.complete, messaging.send]
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[ContentPipelineWorkflow],
        activities=acts,
        interceptors=[ActivityErrors()],
    ):
        handle = await ts_env.client.start_workflow(
            ContentPipelineWorkflow.run, input, id=input.workflow_id, task_queue=task_queue
        )
        result = await handle.result()

    assert result.stage == "expired" and result.reminded
    await _no_task_failure_loop(handle)
