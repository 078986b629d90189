"""FOLLOWTHROUGH_SANDBOX_FAULTS covers every sandbox: the bot platforms and the notification
channels (email, webhook), and what the sandboxes call is what the setting accepts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from followthrough.config import ConfigError, Settings
from followthrough.errors import RetryableError
from followthrough.processes.notifications.activities import NotificationActivities
from followthrough.providers.bots import BotPlatforms, SandboxBots
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealthInput,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
)
from followthrough.providers.email import EmailMessage, SandboxEmail
from followthrough.providers.factory import build_providers
from followthrough.providers.sandbox import Sandbox
from followthrough.providers.selection import SANDBOX_OPERATIONS, parse_faults
from followthrough.providers.webhook_delivery import SandboxWebhookDelivery, WebhookDelivery
from followthrough.services import Services
from followthrough.store.outbox import Outbox


def email(key: str = "notification:n1:email") -> EmailMessage:
    return EmailMessage(to="ana@example.com", subject="Hi", text="Hello", idempotency_key=key)


def delivery(key: str = "notification:n1:webhook") -> WebhookDelivery:
    return WebhookDelivery(url="https://partner.example/hook", payload={"m": "hi"}, idempotency_key=key)


def test_notification_and_bot_faults_are_accepted() -> None:
    faults = parse_faults("email.send=0.5:503,webhook.deliver=1:timeout,slack.*=1:429,whatsapp.register=1:401")
    assert [(f.provider, f.operation, f.status) for f in faults] == [
        ("email", "send", 503),
        ("webhook", "deliver", None),
        ("slack", "*", 429),
        ("whatsapp", "register", 401),
    ]


@pytest.mark.parametrize("spec", ["email.deliver=1:503", "webhook.send=1:503", "slack.send=1:503"])
def test_unknown_operations_of_the_new_providers_are_refused_at_start(
    make_settings: Callable[..., Settings], spec: str
) -> None:
    with pytest.raises(ConfigError, match="unknown operation"):
        make_settings(followthrough_sandbox_faults=spec)


async def test_every_operation_a_sandbox_calls_can_be_faulted(sandbox: Sandbox) -> None:
    """The names the sandboxes use and the names the setting accepts cannot drift apart."""
    wa = BotAccount(phone_number_id="1", business_account_id="2")
    bots = BotPlatforms({p: SandboxBots(sandbox, p) for p in ("discord", "telegram", "slack", "whatsapp")})
    for platform in ("discord", "telegram", "slack", "whatsapp"):
        common = {"platform": platform, "token": "t", "account": wa.model_dump()}
        await bots.register(RegisterBotInput.model_validate({**common, "idempotency_key": f"{platform}:r"}))
        await bots.set_webhook(
            SetWebhookInput.model_validate(
                {**common, "url": "https://b.example/x", "secret_token": "v", "idempotency_key": f"{platform}:w"}
            )
        )
        await bots.health(BotHealthInput.model_validate(common))
        await bots.unregister(UnregisterBotInput.model_validate({**common, "idempotency_key": f"{platform}:u"}))
    await SandboxEmail(sandbox).send(email())
    await SandboxWebhookDelivery(sandbox).deliver(delivery())

    called = {(provider, operation) for provider, operation, _ in sandbox.calls}
    assert {p for p, _ in called} == {"discord", "telegram", "slack", "whatsapp", "email", "webhook"}
    assert all(operation in SANDBOX_OPERATIONS[provider] for provider, operation in called), called


async def test_notification_sandboxes_honour_the_configured_faults(
    make_settings: Callable[..., Settings], services: Services, outbox: Outbox
) -> None:
    settings = make_settings(followthrough_sandbox_faults="email.send=1:503,webhook.deliver=1:timeout")
    services.providers = build_providers(settings, outbox)
    acts = NotificationActivities(services)
    with pytest.raises(RetryableError, match="email answered 503"):
        await acts.email.send(email())
    with pytest.raises(RetryableError, match="webhook timed out"):
        await acts.webhooks.deliver(delivery())
    assert await outbox.entries(provider="email") == []  # a failed send records nothing


async def test_without_faults_the_notification_sandboxes_deliver(services: Services, outbox: Outbox) -> None:
    acts = NotificationActivities(services)
    receipt = await acts.email.send(email())
    assert receipt.message_id.startswith("sandbox-email-")
    assert [e.operation for e in await outbox.entries(provider="email")] == ["send"]
