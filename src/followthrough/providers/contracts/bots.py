"""Inputs and results of the bot-platform capability (Discord, Telegram, Slack, WhatsApp).

A bot's token is the bot owner's, so it travels in the input (encrypted in workflow payloads by
the payload codec); when omitted, the platform's default token from the settings is used
(DISCORD_BOT_TOKEN, TELEGRAM_BOT_TOKEN, SLACK_BOT_TOKEN, WHATSAPP_TOKEN).

A token alone does not name everything on every platform: a WhatsApp bot is a phone number of a
WhatsApp Business Account, and a Slack app's event URL lives in its manifest, which only an app
configuration token may change. Those ids travel in :class:`BotAccount`.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

BotPlatform = Literal["discord", "telegram", "slack", "whatsapp"]
BOT_PLATFORMS: tuple[str, ...] = get_args(BotPlatform)

BotOperation = Literal["register", "set_webhook", "health", "unregister"]


class BotAccount(BaseModel):
    """What a platform needs besides the token (unset fields are simply not used)."""

    phone_number_id: str | None = Field(default=None, pattern=r"^\d{1,32}$", description="WhatsApp phone number id")
    business_account_id: str | None = Field(
        default=None, pattern=r"^\d{1,32}$", description="WhatsApp Business Account (WABA) id"
    )
    app_id: str | None = Field(default=None, pattern=r"^A[A-Z0-9]{4,31}$", description="Slack app id (A0123…)")
    app_config_token: str | None = Field(
        default=None, min_length=1, description="Slack app configuration token (xoxe.xoxp-…), a secret"
    )

    def merged_over(self, defaults: BotAccount) -> BotAccount:
        """These fields, each unset one taken from ``defaults``."""
        mine = self.model_dump(exclude_none=True)
        return defaults.model_copy(update=mine)

    def redacted(self) -> dict[str, object]:
        data = self.model_dump(mode="json", exclude_none=True)
        if data.get("app_config_token"):
            data["app_config_token"] = "***"
        return data


#: The account fields each platform operation cannot do without.
ACCOUNT_NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("whatsapp", "register"): ("phone_number_id",),
    ("whatsapp", "health"): ("phone_number_id",),
    ("whatsapp", "set_webhook"): ("business_account_id",),
    ("whatsapp", "unregister"): ("business_account_id",),
}

#: Where a missing account field comes from, for the error message.
_ACCOUNT_SOURCES = {
    "phone_number_id": "config 'phone_number_id' (or WHATSAPP_PHONE_NUMBER_ID with the default token)",
    "business_account_id": "config 'business_account_id' (or WHATSAPP_BUSINESS_ACCOUNT_ID with the default token)",
}


def missing_account_fields(platform: str, operation: str, account: BotAccount) -> list[str]:
    """Why ``operation`` cannot run on ``platform`` with ``account`` (empty when it can)."""
    return [
        f"{platform} {operation} needs {_ACCOUNT_SOURCES.get(name, name)}"
        for name in ACCOUNT_NEEDS.get((platform, operation), ())
        if not getattr(account, name)
    ]


def slack_manifest_configurable(account: BotAccount) -> bool:
    """Slack's event request URL can be set by API only through the app manifest."""
    return bool(account.app_id and account.app_config_token)


def slack_manual_step(url: str) -> str:
    return (
        f"Slack cannot set an Events API request URL with a bot token: open the app's Event Subscriptions "
        f"page at api.slack.com/apps and set the Request URL to {url}, or give the app id (config 'app_id') "
        "and an app configuration token (secret 'app_config_token') so the manifest is updated for you"
    )


class _Bot(BaseModel):
    platform: BotPlatform
    token: str | None = Field(default=None, min_length=1, description="unset = the platform's default token")
    account: BotAccount = Field(default_factory=BotAccount)

    def redacted(self) -> dict[str, object]:
        """The input as JSON with the secrets masked: what the outbox records."""
        data = self.model_dump(mode="json")
        if data.get("token"):
            data["token"] = "***" + str(data["token"])[-4:]
        data["account"] = self.account.redacted()
        return data


class RegisterBotInput(_Bot):
    idempotency_key: str = Field(min_length=1, max_length=255)


class BotIdentity(BaseModel):
    platform: BotPlatform
    bot_id: str
    username: str


class SetWebhookInput(_Bot):
    url: str = Field(pattern=r"^https://", description="the platform calls it; https only")
    secret_token: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,256}$",
        description="Telegram's secret_token header; WhatsApp's verify_token for the callback handshake",
    )
    idempotency_key: str = Field(min_length=1, max_length=255)


class WebhookResult(BaseModel):
    platform: BotPlatform
    url: str | None
    active: bool
    #: Set when the platform cannot be configured by API: what a person must do, and where.
    manual_step_required: str | None = None


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
