"""UserOnboardingWorkflow: a saga over the user stores, then the welcome message.

The user is created in every enabled store, in order. A store that is down is retried by
Temporal (its faults are ``RetryableError``) for up to :data:`STORE_OUTAGE_LIMIT`; a permanent
refusal (or an outage longer than that) deletes the user again from every store this
onboarding created it in, newest first, and the result says which. Cancelling the workflow
undoes the same way. The rows carry the onboarding's id, so the undo never deletes a user
that existed before, and a second onboarding of the same email finds the rows instead of
writing twins.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.onboarding.rules import (
        CreateStoreUserInput,
        DeleteStoreUserInput,
        OnboardingInput,
        OnboardingResult,
        PlanStoresInput,
        StorePlan,
        StoreUserResult,
        welcome_idempotency_key,
        welcome_text,
    )
    from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
    from followthrough.temporal.policies import (
        COMPENSATION_RETRY,
        DEFAULT_RETRY,
        PROVIDER_CALL_TIMEOUT,
        STORE_CALL_TIMEOUT,
        STORE_RETRY,
    )

#: How long a store may stay unreachable before the onboarding gives up on it and undoes.
STORE_OUTAGE_LIMIT = timedelta(hours=1)


def _describe(err: ActivityError) -> tuple[str, str | None]:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type
    return str(cause or err), type(cause).__name__ if cause else None


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
        owner = workflow.info().workflow_id  # marks the rows this onboarding writes
        user_id = input.user_id_under(owner)
        plan: StorePlan = await workflow.execute_activity(
            "user_stores.plan",
            PlanStoresInput(requested=input.stores),
            result_type=StorePlan,
            start_to_close_timeout=STORE_CALL_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        result = OnboardingResult(success=True, user_id=user_id)
        try:
            for store in plan.stores:
                self._step = f"creating in {store}"
                try:
                    created: StoreUserResult = await workflow.execute_activity(
                        "user_stores.create_user",
                        CreateStoreUserInput(
                            store=store, user_id=user_id, email=input.email, name=input.name, onboarding_id=owner
                        ),
                        result_type=StoreUserResult,
                        start_to_close_timeout=STORE_CALL_TIMEOUT,
                        schedule_to_close_timeout=STORE_OUTAGE_LIMIT,
                        retry_policy=DEFAULT_RETRY,
                    )
                except ActivityError as err:
                    if isinstance(err.cause, CancelledError):
                        raise asyncio.CancelledError() from err
                    result.success = False
                    result.failed_store = store
                    result.error, result.error_type = _describe(err)
                    result.compensated = await self._undo(result.created_in, user_id, owner)
                    result.created_in = []
                    self._step = "rolled back"
                    return result
                (result.created_in if created.created else result.already_present_in).append(store)
        except asyncio.CancelledError:
            self._step = "cancelled, rolling back"
            await self._undo(result.created_in, user_id, owner)
            raise
        self._step = "welcoming"
        result.welcome_message_id = await self._welcome(input, owner)
        self._step = "done"
        return result

    async def _undo(self, stores: list[str], user_id: str, owner: str) -> list[str]:
        undone = []
        for store in reversed(stores):
            self._step = f"deleting from {store}"
            await workflow.execute_activity(
                "user_stores.delete_user",
                DeleteStoreUserInput(store=store, user_id=user_id, onboarding_id=owner),
                start_to_close_timeout=STORE_CALL_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            undone.append(store)
        return undone

    async def _welcome(self, input: OnboardingInput, owner: str) -> str | None:
        """The welcome message (WhatsApp, idempotent per onboarding id); a failure is not undone."""
        if input.phone is None:
            return None
        try:
            sent: SendMessageResult = await workflow.execute_activity(
                "messaging.send",
                SendMessageInput(
                    to=input.phone,
                    text=welcome_text(input.name, input.language),
                    idempotency_key=welcome_idempotency_key(owner),
                ),
                result_type=SendMessageResult,
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=DEFAULT_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("welcome message not sent: %s", _describe(err)[0])
            return None
        return sent.message_id
