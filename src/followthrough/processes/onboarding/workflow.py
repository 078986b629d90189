"""UserOnboardingWorkflow: a saga over the user stores, then the welcome message.

The user is created in every enabled store, in order. A store that is down is retried by
Temporal (its faults are ``RetryableError``) for up to :data:`STORE_OUTAGE_LIMIT`; a permanent
refusal (or an outage longer than that) deletes the user again from every store this
onboarding created it in, newest first, and the result says which. Cancelling the workflow
undoes the same way. The rows carry the onboarding's id, so the undo never deletes a user
that existed before, and a second onboarding of the same email finds the rows instead of
writing twins. A cancellation undoes shielded (:class:`~followthrough.temporal.saga.Saga`).

The saga is written once, :func:`onboarding_saga`: this workflow runs it on Temporal, and
``POST /api/users`` with ``ENABLE_TEMPORAL`` / ``USE_TEMPORAL_ONBOARDING`` off runs it inline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.onboarding.activities import UserStoreActivities
    from followthrough.processes.onboarding.rules import (
        CreateStoreUserInput,
        DeleteStoreUserInput,
        OnboardingInput,
        OnboardingResult,
        PlanStoresInput,
        welcome_idempotency_key,
        welcome_text,
    )
    from followthrough.providers.contracts.messaging import SendMessageInput
    from followthrough.temporal.policies import (
        COMPENSATION_RETRY,
        DEFAULT_RETRY,
        PROVIDER_CALL_TIMEOUT,
        STORE_CALL_TIMEOUT,
        STORE_RETRY,
    )
    from followthrough.temporal.saga import Saga, Undo, describe
    from followthrough.temporal.steps import STEP_FAILURES, Steps, WorkflowSteps

#: How long a store may stay unreachable before the onboarding gives up on it and undoes.
STORE_OUTAGE_LIMIT = timedelta(hours=1)


async def onboarding_saga(steps: Steps, input: OnboardingInput, report: Callable[[str], None]) -> OnboardingResult:
    """The onboarding, step by step; ``report`` hears each step's name as it starts."""
    owner = steps.workflow_id  # marks the rows this onboarding writes
    user_id = input.user_id_under(owner)
    plan = await steps.run(
        UserStoreActivities.plan,
        PlanStoresInput(requested=input.stores),
        timeout=STORE_CALL_TIMEOUT,
        retry=STORE_RETRY,
    )
    result = OnboardingResult(success=True, user_id=user_id)
    saga: Saga[str] = Saga(on_undo=lambda store: report(f"deleting from {store}"))
    store = ""
    try:
        for store in plan.stores:
            report(f"creating in {store}")
            created = await steps.run(
                UserStoreActivities.create_user,
                CreateStoreUserInput(
                    store=store, user_id=user_id, email=input.email, name=input.name, onboarding_id=owner
                ),
                timeout=STORE_CALL_TIMEOUT,
                retry=DEFAULT_RETRY,
                deadline=STORE_OUTAGE_LIMIT,
            )
            if not created.created:  # there before: never ours to delete
                result.already_present_in.append(store)
                continue
            result.created_in.append(store)
            saga.add(store, _deleter(steps, DeleteStoreUserInput(store=store, user_id=user_id, onboarding_id=owner)))
    except BaseException as err:
        cancelled = is_cancelled_exception(err)
        if not cancelled and not isinstance(err, STEP_FAILURES):
            raise
        report("cancelled, rolling back" if cancelled else f"rolling back: {store} failed")
        await saga.compensate()  # newest first; a cancellation cannot interrupt it
        if cancelled:
            raise
        result.success, result.failed_store = False, store
        result.error, result.error_type = describe(err)
        result.compensated = saga.compensated
        result.compensation_errors = saga.failures
        result.created_in = [s for s in result.created_in if s not in saga.compensated]
        report("rolled back")
        return result
    report("welcoming")
    result.welcome_message_id = await _welcome(steps, input, owner)
    report("done")
    return result


def _deleter(steps: Steps, undo: DeleteStoreUserInput) -> Undo:
    """The undo of one store's create: delete the user again (only a row this onboarding wrote)."""
    return lambda: steps.run(
        UserStoreActivities.delete_user, undo, timeout=STORE_CALL_TIMEOUT, retry=COMPENSATION_RETRY
    )


async def _welcome(steps: Steps, input: OnboardingInput, owner: str) -> str | None:
    """The welcome message (WhatsApp, idempotent per onboarding id); a failure is not undone."""
    if input.phone is None:
        return None
    try:
        sent = await steps.run(
            MessagingActivities.send,
            SendMessageInput(
                to=input.phone,
                text=welcome_text(input.name, input.language),
                idempotency_key=welcome_idempotency_key(owner),
            ),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=timedelta(hours=1),
        )
    except STEP_FAILURES as err:
        steps.logger.warning("welcome message not sent: %s", describe(err)[0])
        return None
    return sent.message_id


@workflow.defn
class UserOnboardingWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "onboarding"

    def __init__(self) -> None:
        self._step = "starting"

    @workflow.query
    def step(self) -> str:
        return self._step

    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingResult:
        return await onboarding_saga(WorkflowSteps(), input, self._report)

    def _report(self, step: str) -> None:
        self._step = step
