"""BotDeploymentWorkflow on the time-skipping server, with fake activities under the real names.

The fakes record every call and, at each call, what the ``status`` query answers, so the tests
can check both the rollback order and the progress reported at every step.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.processes.deployments.activities import DeploymentActivities, secrets_key
from followthrough.processes.deployments.rules import (
    BotDeploymentInput,
    BotDeploymentResult,
    BotHealthResult,
    BotRecordInput,
    CreateBotRecordInput,
    DeploymentStatus,
    PlatformCallInput,
    RegisterResult,
    ValidateBotConfigInput,
    seal,
    seal_config,
)
from followthrough.processes.deployments.workflow import BotDeploymentWorkflow
from followthrough.services import Services

KEY = bytes(range(32))
TOKEN = "123456789:AAFakeTelegramTokenThatMustNeverLeak_xyz"


def deployment_input(**overrides: Any) -> BotDeploymentInput:
    values: dict[str, Any] = {
        "bot_name": f"bot-{uuid.uuid4().hex[:8]}",
        "bot_type": "telegram",
        "config": {"webhook_url": "https://hooks.example.com/tg"},
        "owner": "user-123",
        "health_timeout_seconds": 300,
        "health_poll_seconds": 10,
    }
    values.update(overrides)
    values.setdefault("secrets", {"token": seal(TOKEN, KEY, context=values["bot_name"])})
    return BotDeploymentInput(**values)


class FakePlatform:
    """Activities under the workflow's names; ``fail_at`` makes one of them fail for good."""

    def __init__(self, client: Client, *, fail_at: str | None = None, healthy_after: int = 1) -> None:
        self.client = client
        self.fail_at = fail_at
        self.healthy_after = healthy_after
        self.calls: list[str] = []
        self.status_at: dict[str, tuple[str, int]] = {}
        self.health_calls = 0
        self.validate_gate: asyncio.Event | None = None
        self.started: list[str] = []

    async def _record(self, name: str) -> None:
        self.calls.append(name)
        handle = self.client.get_workflow_handle(activity.info().workflow_id)
        for _ in range(50):  # a query racing a signal's workflow task may be refused: ask again
            try:
                status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
                break
            except (RPCError, WorkflowQueryFailedError):
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the status query never answered")
        self.status_at.setdefault(name, (status.step, status.progress))
        if self.fail_at == name:
            raise ApplicationError(f"{name} refused", type="ValidationError", non_retryable=True)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="deployments.validate_config")
        async def validate_config(input: ValidateBotConfigInput) -> None:
            self.started.append("validate_config")
            if self.validate_gate is not None:
                await self.validate_gate.wait()
            await self._record("validate_config")

        @activity.defn(name="deployments.create_record")
        async def create_record(input: CreateBotRecordInput) -> None:
            await self._record("create_record")

        @activity.defn(name="deployments.register")
        async def register(input: PlatformCallInput) -> RegisterResult:
            await self._record("register")
            return RegisterResult(platform_bot_id=f"tg-{input.bot_id}")

        @activity.defn(name="deployments.set_webhook")
        async def set_webhook(input: PlatformCallInput) -> None:
            assert input.platform_bot_id
            await self._record("set_webhook")

        @activity.defn(name="deployments.health")
        async def health(input: PlatformCallInput) -> BotHealthResult:
            self.health_calls += 1
            await self._record("health")
            return BotHealthResult(healthy=self.health_calls >= self.healthy_after, detail="getMe ok")

        @activity.defn(name="deployments.mark_active")
        async def mark_active(input: BotRecordInput) -> None:
            await self._record("mark_active")

        @activity.defn(name="deployments.undeploy")
        async def undeploy(input: PlatformCallInput) -> None:
            self.calls.append("undeploy")

        @activity.defn(name="deployments.delete_record")
        async def delete_record(input: BotRecordInput) -> None:
            self.calls.append("delete_record")

        return [validate_config, create_record, register, set_webhook, health, mark_active, undeploy, delete_record]


async def start(env: WorkflowEnvironment, tq: str, input: BotDeploymentInput) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        BotDeploymentWorkflow.run, input, id=f"deployment-{input.bot_name}", task_queue=tq
    )


async def eventually(check: Callable[[], bool], state: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached; state: {state()}")


async def test_a_deployment_runs_every_step_and_reports_success(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakePlatform(ts_env.client)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input())
        result: BotDeploymentResult = await handle.result()
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
    assert result.success and result.bot_id and result.error is None and result.rolled_back == []
    assert fake.calls == ["validate_config", "create_record", "register", "set_webhook", "health", "mark_active"]
    assert (status.step, status.progress, status.state) == ("active", 100, "succeeded")


async def test_the_status_query_reports_step_and_progress_at_every_step(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakePlatform(ts_env.client)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        await (await start(ts_env, task_queue, deployment_input())).result()
    assert fake.status_at == {
        "validate_config": ("validating", 10),
        "create_record": ("creating_record", 25),
        "register": ("deploying", 50),
        "set_webhook": ("deploying", 50),
        "health": ("health_check", 75),
        "mark_active": ("activating", 90),
    }


async def test_a_discord_bot_needs_no_webhook(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakePlatform(ts_env.client)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        result = await (await start(ts_env, task_queue, deployment_input(bot_type="discord", config={}))).result()
    assert result.success
    assert "set_webhook" not in fake.calls


@pytest.mark.parametrize(
    ("fail_at", "failed_step", "rolled_back"),
    [
        ("validate_config", "validating", []),
        ("create_record", "creating_record", []),
        ("register", "deploying", ["delete_record"]),
        ("set_webhook", "deploying", ["undeploy", "delete_record"]),
        ("health", "health_check", ["undeploy", "delete_record"]),
        ("mark_active", "activating", ["undeploy", "delete_record"]),
    ],
)
async def test_a_failure_at_each_step_rolls_back_exactly_the_earlier_steps(
    ts_env: WorkflowEnvironment, task_queue: str, fail_at: str, failed_step: str, rolled_back: list[str]
) -> None:
    fake = FakePlatform(ts_env.client, fail_at=fail_at)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input())
        result: BotDeploymentResult = await handle.result()
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
    assert not result.success
    assert result.failed_step == failed_step
    assert result.rolled_back == rolled_back
    assert result.error == f"ValidationError: {fail_at} refused"
    # the compensations ran after the failing step, in reverse order, and nothing else ran
    assert fake.calls[fake.calls.index(fail_at) + 1 :] == rolled_back
    assert (status.state, status.failed_step, status.rolled_back) == ("failed", failed_step, rolled_back)


async def test_a_bot_that_never_gets_healthy_rolls_back_at_the_deadline(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakePlatform(ts_env.client, healthy_after=10_000)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input(health_timeout_seconds=60, health_poll_seconds=10))
        result: BotDeploymentResult = await handle.result()
    assert not result.success
    assert result.failed_step == "health_check"
    assert result.error is not None and result.error.startswith("not healthy within 60s")
    assert result.rolled_back == ["undeploy", "delete_record"]
    assert fake.health_calls == 7  # t = 0, 10, …, 60 s


async def test_health_is_polled_until_healthy(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakePlatform(ts_env.client, healthy_after=3)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input())
        result = await handle.result()
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
    assert result.success
    assert fake.health_calls == 3 and status.health_checks == 3


async def test_pause_holds_before_the_next_step_and_resume_continues(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    fake = FakePlatform(ts_env.client)
    fake.validate_gate = asyncio.Event()
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input())
        # pause only once the first step runs: a pause that lands before the first workflow task
        # holds the deployment before "validating" (the paused-at-start case, tested below)
        await eventually(lambda: fake.started == ["validate_config"], lambda: fake.started)
        await handle.signal(BotDeploymentWorkflow.pause)
        fake.validate_gate.set()
        await eventually(lambda: fake.calls == ["validate_config"], lambda: fake.calls)
        await ts_env.sleep(timedelta(hours=6))
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
        assert fake.calls == ["validate_config"]
        assert (status.step, status.progress, status.paused) == ("validating", 10, True)

        await handle.signal(BotDeploymentWorkflow.resume)
        result = await handle.result()
    assert result.success
    assert fake.calls[-1] == "mark_active"


async def test_a_deployment_paused_at_start_holds_every_step(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakePlatform(ts_env.client)
    input = deployment_input()
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await ts_env.client.start_workflow(
            BotDeploymentWorkflow.run,
            input,
            id=f"deployment-{input.bot_name}",
            task_queue=task_queue,
            start_signal="pause",
        )
        await ts_env.sleep(timedelta(days=2))
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
        assert (fake.calls, status.step, status.progress, status.paused) == ([], "pending", 0, True)
        await handle.signal(BotDeploymentWorkflow.resume)
        assert (await handle.result()).success


async def until_status(handle: WorkflowHandle[Any, Any], check: Callable[[DeploymentStatus], bool]) -> None:
    """Poll the ``status`` query (which does not skip time) until ``check`` holds."""
    status: DeploymentStatus | None = None
    for _ in range(500):
        try:
            status = await handle.query(BotDeploymentWorkflow.status)
            if check(status):
                return
        except (RPCError, WorkflowQueryFailedError):
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"status never reached the condition: {status}")


async def test_cancel_during_the_health_check_rolls_back(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    fake = FakePlatform(ts_env.client, healthy_after=10_000)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[BotDeploymentWorkflow], activities=fake.activities()
    ):
        handle = await start(ts_env, task_queue, deployment_input())
        await eventually(lambda: fake.health_calls >= 1, lambda: fake.calls)
        # Cancel while the workflow sleeps between two checks, not while a check is in flight: the
        # time-skipping server may refuse the cancel of an activity that has just completed
        # (ACTIVITY_UNKNOWN) and the workflow then never closes.
        await until_status(handle, lambda s: s.health_checks >= 1)
        await handle.cancel()
        # Awaiting the result skips time: first let the workflow take the cancellation, or the
        # server may race past the health deadline and fail the deployment instead.
        await until_status(handle, lambda s: s.state != "running")
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        status: DeploymentStatus = await handle.query(BotDeploymentWorkflow.status)
    assert isinstance(failure.value.cause, CancelledError)
    assert fake.calls[-2:] == ["undeploy", "delete_record"]
    assert "mark_active" not in fake.calls
    assert (status.state, status.failed_step, status.rolled_back) == (
        "cancelled",
        "health_check",
        ["undeploy", "delete_record"],
    )


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    """Keeps tests/histories/deployment/*.json; rewritten only when missing or RECORD_HISTORIES=1."""
    from tests.record import HISTORIES, save_history

    cases = {
        "success": FakePlatform(ts_env.client, healthy_after=2),
        "rolled_back": FakePlatform(ts_env.client, fail_at="health"),
    }
    for case, fake in cases.items():
        path = HISTORIES / "deployment" / f"{case}.json"
        if path.exists() and os.environ.get("RECORD_HISTORIES") != "1":
            continue
        async with Worker(
            ts_env.client,
            task_queue=f"{task_queue}-{case}",
            workflows=[BotDeploymentWorkflow],
            activities=fake.activities(),
        ):
            handle = await ts_env.client.start_workflow(
                BotDeploymentWorkflow.run,
                deployment_input(bot_name=f"recorded-{case}"),
                id=f"deployment-recorded-{case}-{uuid.uuid4().hex[:6]}",
                task_queue=f"{task_queue}-{case}",
            )
            await handle.result()
            await save_history(handle, "deployment", case)
    assert all((HISTORIES / "deployment" / f"{case}.json").exists() for case in cases)


# --- Slack and WhatsApp bots with the real deployment activities on the sandbox platform -----
SLACK_TOKEN = "xoxb-1234567890-SlackTokenThatMustNeverLeak"
WHATSAPP_TOKEN = "EAAGWhatsAppTokenThatMustNeverLeak"


async def deploy_for_real(
    env: WorkflowEnvironment, tq: str, services: Services, bot_type: str, raw_config: dict[str, Any]
) -> BotDeploymentResult:
    """Seal the raw config as the route does and run the workflow with the real activities."""
    name = f"{bot_type}-{uuid.uuid4().hex[:8]}"
    public, secrets = seal_config(raw_config, secrets_key(services.settings), context=name)
    input = BotDeploymentInput(
        bot_name=name, bot_type=bot_type, config=public, secrets=secrets, owner="owner-1", health_poll_seconds=5
    )
    acts = activity_methods(DeploymentActivities(services))
    async with Worker(env.client, task_queue=tq, workflows=[BotDeploymentWorkflow], activities=acts):
        handle = await start(env, tq, input)
        result: BotDeploymentResult = await handle.result()
    return result


async def test_a_slack_bot_deploys_on_the_sandbox_platform(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    config = {
        "token": SLACK_TOKEN,
        "signing_secret": "slack-signing-secret",
        "app_config_token": "xoxe.xoxp-1-AppConfigTokenNeverLeaks",
        "app_id": "A0APP12345",
        "webhook_url": "https://bots.example.com/slack/events",
    }
    result = await deploy_for_real(ts_env, task_queue, services, "slack", config)

    assert result.success, result.error
    entries = await services.providers.outbox.entries(provider="slack")
    assert [(e.operation, e.status) for e in entries] == [("register", "sent"), ("set_webhook", "sent")]
    assert entries[1].response["url"] == "https://bots.example.com/slack/events"
    assert entries[1].response["manual_step_required"] is None
    for entry in entries:  # both tokens are masked in what the outbox keeps
        assert SLACK_TOKEN not in str(entry.request) and "AppConfigTokenNeverLeaks" not in str(entry.request)


async def test_a_slack_bot_without_an_app_config_token_deploys_and_records_the_manual_step(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    config = {"token": SLACK_TOKEN, "signing_secret": "s", "webhook_url": "https://bots.example.com/slack/events"}
    result = await deploy_for_real(ts_env, task_queue, services, "slack", config)

    assert result.success, result.error
    [_, webhook] = await services.providers.outbox.entries(provider="slack")
    assert webhook.operation == "set_webhook" and webhook.response["active"] is False
    assert "Event Subscriptions" in webhook.response["manual_step_required"]


async def test_a_whatsapp_bot_deploys_on_the_sandbox_platform(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    config = {
        "token": WHATSAPP_TOKEN,
        "verify_token": "owner-verify-token",
        "phone_number_id": "1065550001",
        "business_account_id": "2025550002",
        "webhook_url": "https://bots.example.com/whatsapp",
    }
    result = await deploy_for_real(ts_env, task_queue, services, "whatsapp", config)

    assert result.success, result.error
    assert result.platform_bot_id == "1065550001"
    entries = await services.providers.outbox.entries(provider="whatsapp")
    assert [(e.operation, e.status) for e in entries] == [("register", "sent"), ("set_webhook", "sent")]
    assert entries[1].request["secret_token"] == "***"
    assert all(WHATSAPP_TOKEN not in str(e.request) for e in entries)


async def test_a_whatsapp_bot_without_its_business_account_is_refused_before_any_side_effect(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    config = {"token": WHATSAPP_TOKEN, "phone_number_id": "1065550001", "webhook_url": "https://b.example.com/wa"}
    result = await deploy_for_real(ts_env, task_queue, services, "whatsapp", config)

    assert (result.success, result.failed_step, result.rolled_back) == (False, "validating", [])
    assert "business_account_id" in (result.error or "") and "verify_token" in (result.error or "")
    assert await services.providers.outbox.entries(provider="whatsapp") == []


async def test_a_refused_whatsapp_token_rolls_back_the_record(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    config = {
        "token": "EAAGinvalidToken",
        "verify_token": "v",
        "phone_number_id": "1065550001",
        "business_account_id": "2025550002",
        "webhook_url": "https://b.example.com/wa",
    }
    result = await deploy_for_real(ts_env, task_queue, services, "whatsapp", config)

    assert (result.success, result.failed_step, result.rolled_back) == (False, "deploying", ["delete_record"])
    assert result.error is not None and result.error.startswith("AuthenticationError: whatsapp answered 401")
    assert "EAAGinvalidToken" not in result.error
