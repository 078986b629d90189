"""BotDeploymentWorkflow (OpenCell): validate → record → deploy → health → active, or undo.

Every step first waits while the deployment is paused (``pause`` / ``resume`` signals), then
publishes its name and progress to the ``status`` query. A step that fails for good (a
non-retryable error, retries exhausted, the health deadline passed) or a cancellation undoes the
steps already done, in reverse: undeploy from the platform, delete the bot record. After a
cancellation the undo runs shielded (:class:`~followthrough.temporal.saga.Saga`), so a second
cancel request cannot interrupt it, and the workflow still closes as cancelled; an undo that
fails for good is listed in the result's ``compensation_errors``. Secrets travel sealed (see ``domain/deployment.py``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.deployments.activities import DeploymentActivities
    from followthrough.processes.deployments.rules import (
        DELETE_RECORD,
        STEP_LABELS,
        STEP_PROGRESS,
        UNDEPLOY,
        WEBHOOK_TYPES,
        BotDeploymentInput,
        BotDeploymentResult,
        BotRecordInput,
        CreateBotRecordInput,
        DeploymentStatus,
        PlatformCallInput,
        ValidateBotConfigInput,
    )
    from followthrough.temporal.policies import (
        COMPENSATION_RETRY,
        DEFAULT_RETRY,
        PROVIDER_CALL_TIMEOUT,
        STORE_CALL_TIMEOUT,
    )
    from followthrough.temporal.saga import Saga
    from followthrough.temporal.signals import PauseSignal, ResumeSignal
    from followthrough.temporal.steps import WorkflowSteps

#: A step retries passing faults for a few minutes, then the deployment rolls back.
STEP_RETRY = RetryPolicy(
    initial_interval=DEFAULT_RETRY.initial_interval,
    backoff_coefficient=DEFAULT_RETRY.backoff_coefficient,
    maximum_interval=DEFAULT_RETRY.maximum_interval,
    maximum_attempts=8,
    non_retryable_error_types=DEFAULT_RETRY.non_retryable_error_types,
)
#: A health probe is cheap and repeated by the polling loop itself.
HEALTH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)


class StepFailed(Exception):
    """A step failed for good; carries a message safe to show (no secrets)."""


def _message(err: BaseException) -> str:
    cause: BaseException | None = err
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return f"{cause.type}: {cause.message}"
    return str(cause or err)


@workflow.defn
class BotDeploymentWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "deployment"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    PUBLIC_SIGNALS = frozenset({"pause", "resume"})

    def __init__(self) -> None:
        self._status = DeploymentStatus()
        self._paused = False
        self._steps = WorkflowSteps()

    @workflow.run
    async def run(self, input: BotDeploymentInput) -> BotDeploymentResult:
        bot_id = f"bot-{workflow.uuid4()}"
        self._status.bot_id = bot_id
        steps = self._steps
        saga: Saga[str] = Saga(compensated=self._status.rolled_back)
        platform_bot_id: str | None = None
        step = "validating"
        try:
            step = await self._enter("validating")
            await steps.run(
                DeploymentActivities.validate_config,
                ValidateBotConfigInput(
                    bot_name=input.bot_name, bot_type=input.bot_type, config=input.config, secrets=input.secrets
                ),
                timeout=STORE_CALL_TIMEOUT,
                retry=STEP_RETRY,
            )

            step = await self._enter("creating_record")
            await steps.run(
                DeploymentActivities.create_record,
                CreateBotRecordInput(
                    bot_id=bot_id,
                    bot_name=input.bot_name,
                    bot_type=input.bot_type,
                    owner=input.owner,
                    config=input.config,
                    workflow_id=workflow.info().workflow_id,
                ),
                timeout=STORE_CALL_TIMEOUT,
                retry=STEP_RETRY,
            )
            saga.add(
                DELETE_RECORD,
                lambda: steps.run(
                    DeploymentActivities.delete_record,
                    BotRecordInput(bot_id=bot_id),
                    timeout=STORE_CALL_TIMEOUT,
                    retry=COMPENSATION_RETRY,
                ),
            )

            step = await self._enter("deploying")
            registered = await steps.run(
                DeploymentActivities.register,
                self._call(input, bot_id, None, "register"),
                timeout=PROVIDER_CALL_TIMEOUT,
                retry=STEP_RETRY,
            )
            platform_bot_id = registered.platform_bot_id
            undeploy = self._call(input, bot_id, platform_bot_id, "undeploy")
            saga.add(
                UNDEPLOY,
                lambda: steps.run(
                    DeploymentActivities.undeploy, undeploy, timeout=PROVIDER_CALL_TIMEOUT, retry=COMPENSATION_RETRY
                ),
            )
            if input.bot_type in WEBHOOK_TYPES:
                await steps.run(
                    DeploymentActivities.set_webhook,
                    self._call(input, bot_id, platform_bot_id, "set_webhook"),
                    timeout=PROVIDER_CALL_TIMEOUT,
                    retry=STEP_RETRY,
                )

            step = await self._enter("health_check")
            await self._wait_healthy(input, bot_id, platform_bot_id)

            step = await self._enter("activating")
            await steps.run(
                DeploymentActivities.mark_active,
                BotRecordInput(bot_id=bot_id, platform_bot_id=platform_bot_id),
                timeout=STORE_CALL_TIMEOUT,
                retry=STEP_RETRY,
            )
        except BaseException as err:
            cancelled = is_cancelled_exception(err)
            if not cancelled and not isinstance(err, ActivityError | StepFailed):
                raise
            error = "cancelled" if cancelled else _message(err)
            self._status.state, self._status.failed_step, self._status.error = "rolling_back", step, error
            await saga.compensate()  # last first; a cancellation cannot interrupt it
            if cancelled:
                self._status.state = "cancelled"
                workflow.logger.info("deployment of %s cancelled at %s; rolled back", input.bot_name, step)
                raise
            self._status.state = "failed"
            workflow.logger.warning("deployment of %s failed at %s: %s", input.bot_name, step, error)
            return BotDeploymentResult(
                success=False,
                bot_id=bot_id,
                error=error,
                failed_step=step,
                rolled_back=list(saga.compensated),
                compensation_errors=saga.failures,
            )
        self._publish("active")
        self._status.state = "succeeded"
        return BotDeploymentResult(success=True, bot_id=bot_id, platform_bot_id=platform_bot_id)

    # --- signals and query --------------------------------------------------------------------
    @workflow.signal
    def pause(self, input: PauseSignal | None = None) -> None:
        self._paused = True
        self._status.paused = True

    @workflow.signal
    def resume(self, input: ResumeSignal | None = None) -> None:
        self._paused = False
        self._status.paused = False

    @workflow.query
    def status(self) -> DeploymentStatus:
        return self._status

    # --- steps --------------------------------------------------------------------------------
    async def _enter(self, step: str) -> str:
        """Hold while paused, then publish ``step`` as the current one."""
        await workflow.wait_condition(lambda: not self._paused)
        self._publish(step)
        return step

    def _publish(self, step: str) -> None:
        self._status.step = step
        self._status.label = STEP_LABELS[step]
        self._status.progress = STEP_PROGRESS[step]

    @staticmethod
    def _call(input: BotDeploymentInput, bot_id: str, platform_bot_id: str | None, op: str) -> PlatformCallInput:
        return PlatformCallInput(
            bot_id=bot_id,
            bot_name=input.bot_name,
            bot_type=input.bot_type,
            config=input.config,
            secrets=input.secrets,
            platform_bot_id=platform_bot_id,
            idempotency_key=f"deployment:{bot_id}:{op}",
        )

    async def _wait_healthy(self, input: BotDeploymentInput, bot_id: str, platform_bot_id: str) -> None:
        deadline = workflow.now() + timedelta(seconds=input.health_timeout_seconds)
        call = self._call(input, bot_id, platform_bot_id, "health")
        detail: str | None = None
        while True:
            try:
                health = await self._steps.run(
                    DeploymentActivities.health, call, timeout=PROVIDER_CALL_TIMEOUT, retry=HEALTH_RETRY
                )
                healthy, detail = health.healthy, health.detail
            except ActivityError as err:
                if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                    raise
                healthy, detail = False, _message(err)
            self._status.health_checks += 1
            if healthy:
                return
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                suffix = f" (last check: {detail})" if detail else ""
                raise StepFailed(f"not healthy within {input.health_timeout_seconds:g}s{suffix}")
            await workflow.sleep(min(timedelta(seconds=input.health_poll_seconds), remaining))
