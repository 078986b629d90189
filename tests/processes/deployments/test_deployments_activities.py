"""BotDeploymentWorkflow with the real deployment activities on the sandbox bot platform and a
migrated SQLite store: records, outbox, rollback, and the token kept out of every payload."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import select
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.processes.deployments.activities import DeploymentActivities, secrets_key
from followthrough.processes.deployments.rules import BotDeploymentInput, BotDeploymentResult, seal_config
from followthrough.processes.deployments.workflow import BotDeploymentWorkflow
from followthrough.providers.bots import BotPlatforms
from followthrough.services import Services
from followthrough.store.models import BotDeployment

TOKEN = "987654321:AAsecretTelegramTokenNobodyMaySee_0123"


def payloads(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (event attributes, headers, memos…)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items: Any = value.values()
        elif not isinstance(value, Message):  # a repeated field
            items = value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads(item)


async def visible_text(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> bytes:
    """The history as anyone holding the payload codec's key sees it: JSON plus decoded payloads."""
    history = await handle.fetch_history()
    found = [p for event in history.events for p in payloads(event)]
    codec = env.client.data_converter.payload_codec
    decoded = await codec.decode(found) if codec else found
    return history.to_json().encode() + b"\n".join(p.data for p in decoded)


def sealed_input(services: Services, bot_name: str, **config: Any) -> BotDeploymentInput:
    raw = {"token": TOKEN, "webhook_url": "https://bots.example.com/tg", **config}
    public, secrets = seal_config(raw, secrets_key(services.settings), context=bot_name)
    return BotDeploymentInput(
        bot_name=bot_name, bot_type="telegram", config=public, secrets=secrets, owner="user-1", health_poll_seconds=5
    )


async def deploy(
    env: WorkflowEnvironment, tq: str, services: Services, input: BotDeploymentInput
) -> tuple[BotDeploymentResult, WorkflowHandle[Any, Any]]:
    acts = activity_methods(DeploymentActivities(services))
    async with Worker(env.client, task_queue=tq, workflows=[BotDeploymentWorkflow], activities=acts):
        handle = await env.client.start_workflow(
            BotDeploymentWorkflow.run, input, id=f"deployment-{input.bot_name}-{uuid.uuid4().hex[:6]}", task_queue=tq
        )
        return await handle.result(), handle


async def records(services: Services) -> list[BotDeployment]:
    async with services.database.session() as session:
        return list(await session.scalars(select(BotDeployment)))


async def test_a_telegram_bot_is_deployed_on_the_sandbox_platform(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    result, _ = await deploy(ts_env, task_queue, services, sealed_input(services, "support-bot"))

    assert result.success, result.error
    [record] = await records(services)
    assert (record.id, record.status, record.progress) == (result.bot_id, "active", 100)
    assert record.platform_bot_id == result.platform_bot_id and record.deployed_at is not None
    assert record.config == {"webhook_url": "https://bots.example.com/tg"}
    ops = [(e.operation, e.status) for e in await services.providers.outbox.entries(provider="telegram")]
    assert ops == [("register", "sent"), ("set_webhook", "sent")]


async def test_the_token_never_appears_in_the_result_the_history_or_the_outbox(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    result, handle = await deploy(ts_env, task_queue, services, sealed_input(services, "secret-bot"))
    assert result.success
    seen = await visible_text(ts_env, handle)
    assert b"secret-bot" in seen  # the decoding works: the bot's name is visible
    assert TOKEN.encode() not in seen
    assert TOKEN not in result.model_dump_json()
    for entry in await services.providers.outbox.entries():
        assert TOKEN not in str(entry.request) and TOKEN not in str(entry.response)


async def test_a_token_the_platform_refuses_rolls_back_and_the_error_hides_it(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    bad = "123456789:AAinvalidTokenThePlatformRefuses_xyz"
    public, secrets = seal_config(
        {"token": bad, "webhook_url": "https://bots.example.com/tg"}, secrets_key(services.settings), context="bad-bot"
    )
    input = BotDeploymentInput(bot_name="bad-bot", bot_type="telegram", config=public, secrets=secrets, owner="u")
    result, handle = await deploy(ts_env, task_queue, services, input)

    assert not result.success
    assert result.failed_step == "deploying"
    assert result.rolled_back == ["delete_record"]
    assert result.error is not None and result.error.startswith("AuthenticationError: telegram answered 401")
    assert await records(services) == []
    assert bad.encode() not in await visible_text(ts_env, handle)


async def test_an_unsupported_platform_is_refused_before_any_side_effect(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    assert isinstance(services.providers.bots, BotPlatforms)
    del services.providers.bots.clients["slack"]  # a worker built without the Slack adapter
    public, secrets = seal_config(
        {"token": "xoxb-1234567890-abcdef", "signing_secret": "s3cr3t", "webhook_url": "https://x.example/slack"},
        secrets_key(services.settings),
        context="slack-bot",
    )
    input = BotDeploymentInput(bot_name="slack-bot", bot_type="slack", config=public, secrets=secrets, owner="u")
    result, _ = await deploy(ts_env, task_queue, services, input)
    assert (result.success, result.failed_step, result.rolled_back) == (False, "validating", [])
    assert "no bot-platform adapter for slack bots" in (result.error or "")
    assert await records(services) == []


async def test_a_secret_sealed_with_another_key_is_refused(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    public, secrets = seal_config({"token": TOKEN, "webhook_url": "https://b.example/tg"}, b"k" * 32, context="b")
    input = BotDeploymentInput(bot_name="b", bot_type="telegram", config=public, secrets=secrets, owner="u")
    result, _ = await deploy(ts_env, task_queue, services, input)
    assert (result.success, result.failed_step) == (False, "validating")
    assert "does not open on this worker" in (result.error or "")
