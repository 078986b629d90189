"""Inputs and results of the bot-platform capability (Discord, Telegram).

A bot's token is the bot owner's, so it travels in the input (encrypted in workflow payloads by
the payload codec); when omitted, DISCORD_BOT_TOKEN / TELEGRAM_BOT_TOKEN is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

BotPlatform = Literal["discord", "telegram"]


class _Bot(BaseModel):
    platform: BotPlatform
    token: str | None = Field(default=None, min_length=1, description="unset = the platform's default token")

    def redacted(self) -> dict[str, object]:
        """The input as JSON with the token masked: what the outbox records."""
        data = self.model_dump(mode="json")
        if data.get("token"):
            data["token"] = "***" + str(data["token"])[-4:]
        return data


class RegisterBotInput(_Bot):
    idempotency_key: str = Field(min_length=1, max_length=255)


class BotIdentity(BaseModel):
    platform: BotPlatform
    bot_id: str
    username: str


class SetWebhookInput(_Bot):
    url: str = Field(pattern=r"^https://", description="the platform calls it; https only")
    secret_token: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    idempotency_key: str = Field(min_length=1, max_length=255)


class WebhookResult(BaseModel):
    platform: BotPlatform
    url: str | None
    active: bool


class BotHealthInput(_Bot):
    pass


class BotHealth(BaseModel):
    platform: BotPlatform
    ok: bool
    username: str | None = None
    webhook_url: str | None = None
    pending_updates: int | None = None
    detail: str | None = None


class UnregisterBotInput(_Bot):
    idempotency_key: str = Field(min_length=1, max_length=255)


class UnregisterResult(BaseModel):
    platform: BotPlatform
    removed: bool
