"""The Discord and Telegram bot clients against local fakes."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.bots import BotPlatforms, DiscordBots, TelegramBots
from followthrough.providers.contracts.bots import BotHealthInput, RegisterBotInput, SetWebhookInput, UnregisterBotInput

DISCORD = "https://discord.fake/api/v10"
TELEGRAM = "https://telegram.fake"


def bots(http: httpx.AsyncClient) -> BotPlatforms:
    return BotPlatforms(
        {"discord": DiscordBots(http, base_url=DISCORD), "telegram": TelegramBots(http, base_url=TELEGRAM)},
        {"telegram": "123:default"},
    )


async def test_discord_register_uses_bot_token(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.get(f"{DISCORD}/users/@me").respond(200, json={"id": "42", "username": "helper", "bot": True})
        identity = await bots(http).register(RegisterBotInput(platform="discord", token="DTOKEN", idempotency_key="r"))
    assert (identity.bot_id, identity.username) == ("42", "helper")
    assert route.calls.last.request.headers["Authorization"] == "Bot DTOKEN"


async def test_discord_user_token_is_refused(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(f"{DISCORD}/users/@me").respond(200, json={"id": "1", "username": "human"})
        with pytest.raises(ValidationError, match="not a bot"):
            await bots(http).register(RegisterBotInput(platform="discord", token="U", idempotency_key="r"))


async def test_discord_set_interactions_endpoint(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.patch(f"{DISCORD}/applications/@me").respond(
            200, json={"interactions_endpoint_url": "https://bots.example/discord"}
        )
        result = await bots(http).set_webhook(
            SetWebhookInput(platform="discord", token="D", url="https://bots.example/discord", idempotency_key="w")
        )
    assert result.url == "https://bots.example/discord"
    assert json.loads(route.calls.last.request.content) == {"interactions_endpoint_url": "https://bots.example/discord"}


async def test_telegram_methods_and_default_token(http: httpx.AsyncClient) -> None:
    with respx.mock:
        get_me = respx.post(f"{TELEGRAM}/bot123:default/getMe").respond(
            200, json={"ok": True, "result": {"id": 123, "is_bot": True, "username": "tg_bot"}}
        )
        set_hook = respx.post(f"{TELEGRAM}/bot123:default/setWebhook").respond(200, json={"ok": True, "result": True})
        info = respx.post(f"{TELEGRAM}/bot123:default/getWebhookInfo").respond(
            200, json={"ok": True, "result": {"url": "https://bots.example/tg", "pending_update_count": 2}}
        )
        delete = respx.post(f"{TELEGRAM}/bot123:default/deleteWebhook").respond(200, json={"ok": True, "result": True})
        client = bots(http)
        assert (await client.register(RegisterBotInput(platform="telegram", idempotency_key="r"))).username == "tg_bot"
        await client.set_webhook(
            SetWebhookInput(
                platform="telegram", url="https://bots.example/tg", secret_token="s3cr3t", idempotency_key="w"
            )
        )
        health = await client.health(BotHealthInput(platform="telegram"))
        removed = await client.unregister(UnregisterBotInput(platform="telegram", idempotency_key="u"))
    assert get_me.call_count == 2 and info.called and delete.called and removed.removed
    assert json.loads(set_hook.calls.last.request.content) == {
        "url": "https://bots.example/tg",
        "drop_pending_updates": False,
        "secret_token": "s3cr3t",
    }
    assert (health.ok, health.webhook_url, health.pending_updates) == (True, "https://bots.example/tg", 2)


async def test_telegram_errors(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.post(f"{TELEGRAM}/botBAD/getMe").respond(
            401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
        respx.post(f"{TELEGRAM}/botBUSY/getMe").respond(
            429,
            json={"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 9}},
        )
        with pytest.raises(AuthenticationError, match="Unauthorized"):
            await bots(http).register(RegisterBotInput(platform="telegram", token="BAD", idempotency_key="r"))
        with pytest.raises(RetryableError) as info:
            await bots(http).register(RegisterBotInput(platform="telegram", token="BUSY", idempotency_key="r"))
    assert info.value.retry_after == 9.0


async def test_missing_token_is_a_validation_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValidationError, match="DISCORD_BOT_TOKEN"):
        await bots(http).health(BotHealthInput(platform="discord"))
