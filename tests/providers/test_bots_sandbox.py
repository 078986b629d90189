"""The Slack and WhatsApp sandbox twins behave like their platforms, and the settings pick the
real client per platform."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from followthrough.config import Settings
from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.bots import BotPlatforms, DiscordBots, SandboxBots, TelegramBots
from followthrough.providers.bots_slack import SlackBots
from followthrough.providers.bots_whatsapp import WhatsAppBots
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealthInput,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
)
from followthrough.providers.factory import build_providers
from followthrough.providers.sandbox import Sandbox
from followthrough.providers.selection import parse_faults
from followthrough.store.outbox import Outbox

WA = BotAccount(phone_number_id="1065550001", business_account_id="2025550002")
SLACK_APP = BotAccount(app_id="A0APP12345", app_config_token="xoxe.xoxp-1-config")


def platforms(sandbox: Sandbox) -> BotPlatforms:
    return BotPlatforms({p: SandboxBots(sandbox, p) for p in ("slack", "whatsapp")})


@pytest.mark.parametrize("platform", ["slack", "whatsapp"])
async def test_a_token_containing_invalid_is_refused_with_401(sandbox: Sandbox, platform: str) -> None:
    with pytest.raises(AuthenticationError, match=f"{platform} answered 401"):
        await platforms(sandbox).register(
            RegisterBotInput.model_validate(
                {"platform": platform, "token": "invalid-token", "account": WA.model_dump(), "idempotency_key": "r"}
            )
        )


async def test_whatsapp_sandbox_lifecycle(sandbox: Sandbox) -> None:
    bots = platforms(sandbox)
    identity = await bots.register(RegisterBotInput(platform="whatsapp", token="t1", account=WA, idempotency_key="r"))
    assert identity.bot_id == "1065550001"  # like the Cloud API: the bot is its phone number
    await bots.set_webhook(
        SetWebhookInput(
            platform="whatsapp",
            token="t1",
            account=WA,
            url="https://bots.example/wa",
            secret_token="verify",
            idempotency_key="w",
        )
    )
    health = await bots.health(BotHealthInput(platform="whatsapp", token="t1", account=WA))
    assert (health.ok, health.webhook_url, health.detail) == (
        True,
        "https://bots.example/wa",
        "status CONNECTED, quality GREEN",
    )
    removed = await bots.unregister(
        UnregisterBotInput(platform="whatsapp", token="t1", account=WA, idempotency_key="u")
    )
    assert removed.removed
    assert (await bots.health(BotHealthInput(platform="whatsapp", token="t1", account=WA))).webhook_url is None


async def test_whatsapp_sandbox_needs_what_the_cloud_api_needs(sandbox: Sandbox) -> None:
    bots = platforms(sandbox)
    with pytest.raises(ValidationError, match="phone_number_id"):
        await bots.register(RegisterBotInput(platform="whatsapp", token="t", idempotency_key="r"))
    with pytest.raises(ValidationError, match="verify token"):
        await bots.set_webhook(
            SetWebhookInput(platform="whatsapp", token="t", account=WA, url="https://b.example/wa", idempotency_key="w")
        )


async def test_slack_sandbox_reports_the_manual_step_unless_it_can_update_the_manifest(sandbox: Sandbox) -> None:
    bots = platforms(sandbox)
    manual = await bots.set_webhook(
        SetWebhookInput(platform="slack", token="xoxb-t", url="https://bots.example/slack", idempotency_key="w1")
    )
    assert not manual.active and manual.manual_step_required and "Event Subscriptions" in manual.manual_step_required
    assert (await bots.health(BotHealthInput(platform="slack", token="xoxb-t"))).webhook_url is None
    done = await bots.set_webhook(
        SetWebhookInput(
            platform="slack", token="xoxb-t", account=SLACK_APP, url="https://bots.example/slack", idempotency_key="w2"
        )
    )
    assert (done.active, done.manual_step_required) == (True, None)
    assert (await bots.health(BotHealthInput(platform="slack", token="xoxb-t"))).webhook_url == (
        "https://bots.example/slack"
    )
    revoked = await bots.unregister(UnregisterBotInput(platform="slack", token="xoxb-t", idempotency_key="u"))
    assert revoked.removed


async def test_bot_sandbox_faults_are_injected(outbox: Outbox) -> None:
    sandbox = Sandbox(outbox, parse_faults("slack.register=1:503,whatsapp.health=1:timeout"))
    bots = platforms(sandbox)
    with pytest.raises(RetryableError, match="503"):
        await bots.register(RegisterBotInput(platform="slack", token="xoxb-t", idempotency_key="r"))
    with pytest.raises(RetryableError, match="timed out"):
        await bots.health(BotHealthInput(platform="whatsapp", token="t", account=WA))
    await bots.health(BotHealthInput(platform="slack", token="xoxb-t"))  # other operations are untouched


async def test_settings_choose_each_platforms_client(make_settings: Callable[..., Settings], outbox: Outbox) -> None:
    sandboxed = build_providers(make_settings(), outbox)
    assert isinstance(sandboxed.bots, BotPlatforms)
    assert {p: type(c) for p, c in sandboxed.bots.clients.items()} == dict.fromkeys(
        ("discord", "telegram", "slack", "whatsapp"), SandboxBots
    )
    real = build_providers(
        make_settings(
            slack_bot_token="xoxb-default",
            whatsapp_token="EAAG",
            whatsapp_phone_number_id="1065550001",
            followthrough_providers="discord=real,telegram=real",
        ),
        outbox,
    )
    try:
        assert isinstance(real.bots, BotPlatforms)
        assert {p: type(c) for p, c in real.bots.clients.items()} == {
            "discord": DiscordBots,
            "telegram": TelegramBots,
            "slack": SlackBots,
            "whatsapp": WhatsAppBots,
        }
    finally:
        await real.aclose()
