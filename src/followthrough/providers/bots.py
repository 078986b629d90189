"""Bot platforms: Discord, Telegram, Slack and WhatsApp.

One :class:`BotPlatforms` dispatches on ``input.platform`` to a per-platform client, each real
or sandbox on its own (``FOLLOWTHROUGH_PROVIDERS=discord=real,telegram=sandbox``; a WhatsApp bot
follows the ``whatsapp`` provider's mode, as it uses the same Cloud API and credentials):

* :class:`DiscordBots` — ``GET /users/@me`` with ``Authorization: Bot {token}`` to register and
  health-check, ``PATCH /applications/@me`` to set (or clear) the interactions endpoint URL;
* :class:`TelegramBots` — ``getMe``, ``setWebhook`` (with ``secret_token``),
  ``getWebhookInfo`` and ``deleteWebhook`` under ``/bot{token}/``; Telegram's ``ok: false``
  answers and ``parameters.retry_after`` are mapped like HTTP statuses;
* :class:`~followthrough.providers.bots_slack.SlackBots` — ``auth.test``, the app manifest's
  event request URL, ``auth.revoke``; Slack's ``ok: false`` codes mapped to the error classes;
* :class:`~followthrough.providers.bots_whatsapp.WhatsAppBots` — the phone number's node and the
  WABA's ``subscribed_apps`` edge (with a callback override);
* :class:`SandboxBots` — every platform's twin: a stable bot id per token; a token containing
  ``invalid`` is refused with 401, like a revoked one; it needs the same account ids as the real
  platform and, for Slack without an app configuration token, reports the same manual step.

Tokens never reach the outbox: the recorded request masks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

from followthrough.config import Settings
from followthrough.errors import FollowthroughError, RetryableError, ValidationError
from followthrough.providers.bots_slack import SlackBots
from followthrough.providers.bots_whatsapp import WhatsAppBots, need_verify_token
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealth,
    BotHealthInput,
    BotIdentity,
    BotPlatform,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
    UnregisterResult,
    WebhookResult,
    missing_account_fields,
    slack_manifest_configurable,
    slack_manual_step,
)
from followthrough.providers.http import error_for_status, send_json
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.selection import Mode


class BotPlatformClient(Protocol):
    """One platform's client, given the bot's token and the account ids it may need."""

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity: ...

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult: ...

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth: ...

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult: ...


class BotsProvider(Protocol):
    name: str

    async def register(self, input: RegisterBotInput) -> BotIdentity: ...

    async def set_webhook(self, input: SetWebhookInput) -> WebhookResult: ...

    async def health(self, input: BotHealthInput) -> BotHealth: ...

    async def unregister(self, input: UnregisterBotInput) -> UnregisterResult: ...


class DiscordBots:
    platform: BotPlatform = "discord"

    def __init__(self, http: httpx.AsyncClient, *, base_url: str = "https://discord.com/api/v10") -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def _call(self, token: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bot {token}"}
        return await send_json(self._http, "discord", method, f"{self._base}{path}", headers=headers, **kwargs)

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity:
        me = await self._call(token, "GET", "/users/@me")
        if not me.get("bot"):
            raise ValidationError("discord: this token belongs to a user, not a bot", provider="discord")
        return BotIdentity(platform="discord", bot_id=str(me["id"]), username=str(me["username"]))

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult:
        app = await self._call(token, "PATCH", "/applications/@me", json={"interactions_endpoint_url": url})
        return WebhookResult(platform="discord", url=app.get("interactions_endpoint_url"), active=True)

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth:
        me = await self._call(token, "GET", "/users/@me")
        app = await self._call(token, "GET", "/applications/@me")
        return BotHealth(
            platform="discord", ok=True, username=me.get("username"), webhook_url=app.get("interactions_endpoint_url")
        )

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult:
        await self._call(token, "PATCH", "/applications/@me", json={"interactions_endpoint_url": None})
        return UnregisterResult(platform="discord", removed=True)


def _telegram_classify(status: int, body: Any, message: str) -> FollowthroughError | None:
    """Telegram says how long to wait in the body (``parameters.retry_after``), not a header."""
    retry_after = (body.get("parameters") or {}).get("retry_after") if isinstance(body, dict) else None
    if status == 429 and retry_after is not None:
        return RetryableError(
            f"telegram answered 429: {message}", provider="telegram", status=429, retry_after=float(retry_after)
        )
    return None


class TelegramBots:
    platform: BotPlatform = "telegram"

    def __init__(self, http: httpx.AsyncClient, *, base_url: str = "https://api.telegram.org") -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def _call(self, token: str, method: str, payload: dict[str, Any] | None = None) -> Any:
        data = await send_json(
            self._http,
            "telegram",
            "POST",
            f"{self._base}/bot{token}/{method}",
            json=payload or {},
            classify=_telegram_classify,
        )
        if not data.get("ok"):  # Telegram may answer 200 with ok=false
            code = int(data.get("error_code") or 400)
            raise error_for_status("telegram", code, str(data.get("description", "not ok")), body=data)
        return data.get("result")

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity:
        me = await self._call(token, "getMe")
        return BotIdentity(platform="telegram", bot_id=str(me["id"]), username=str(me.get("username", "")))

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult:
        payload: dict[str, Any] = {"url": url, "drop_pending_updates": False}
        if secret_token:
            payload["secret_token"] = secret_token
        await self._call(token, "setWebhook", payload)
        return WebhookResult(platform="telegram", url=url, active=True)

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth:
        me = await self._call(token, "getMe")
        info = await self._call(token, "getWebhookInfo")
        error = info.get("last_error_message")
        return BotHealth(
            platform="telegram",
            ok=not error,
            username=me.get("username"),
            webhook_url=info.get("url") or None,
            pending_updates=info.get("pending_update_count"),
            detail=error,
        )

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult:
        removed = await self._call(token, "deleteWebhook", {"drop_pending_updates": False})
        return UnregisterResult(platform="telegram", removed=bool(removed))


class SandboxBots:
    """Every platform's sandbox: ``platform`` says which one it plays."""

    def __init__(self, sandbox: Sandbox, platform: BotPlatform) -> None:
        self._sandbox = sandbox
        self.platform = platform

    def _check(self, operation: str, token: str, account: BotAccount | None) -> str:
        account = account or BotAccount()
        self._sandbox.enter(self.platform, operation, None, {"token": "***", "account": account.redacted()})
        if "invalid" in token:
            raise error_for_status(self.platform, 401, "Unauthorized (sandbox: the token contains 'invalid')")
        problems = missing_account_fields(self.platform, operation, account)
        if problems:
            raise ValidationError("; ".join(problems), provider=self.platform)
        return str(int(stable_id(self.platform, token, length=12), 16))

    def _name(self, bot_id: str) -> str:
        return f"sandbox_{self.platform}_{bot_id[-6:]}_bot"

    async def _webhook(self, bot_id: str) -> str | None:
        entries = await self._sandbox.outbox.entries(provider=f"sandbox:{self.platform}", operation="webhook")
        mine = [e for e in entries if e.response and e.response.get("bot_id") == bot_id]
        return mine[-1].response.get("url") if mine and mine[-1].response else None

    async def _set(self, bot_id: str, url: str | None) -> None:
        count = len(await self._sandbox.outbox.entries(provider=f"sandbox:{self.platform}", operation="webhook"))
        await self._sandbox.put_state(self.platform, "webhook", f"{bot_id}:{count}", {"bot_id": bot_id, "url": url})

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity:
        bot_id = self._check("register", token, account)
        if self.platform == "whatsapp" and account is not None and account.phone_number_id:
            return BotIdentity(platform=self.platform, bot_id=account.phone_number_id, username=self._name(bot_id))
        return BotIdentity(platform=self.platform, bot_id=bot_id, username=self._name(bot_id))

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult:
        bot_id = self._check("set_webhook", token, account)
        if self.platform == "slack" and not slack_manifest_configurable(account or BotAccount()):
            return WebhookResult(platform="slack", url=None, active=False, manual_step_required=slack_manual_step(url))
        if self.platform == "whatsapp":
            need_verify_token(secret_token)
        await self._set(bot_id, url)
        return WebhookResult(platform=self.platform, url=url, active=True)

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth:
        bot_id = self._check("health", token, account)
        return BotHealth(
            platform=self.platform,
            ok=True,
            username=self._name(bot_id),
            webhook_url=await self._webhook(bot_id),
            pending_updates=0 if self.platform == "telegram" else None,
            detail="status CONNECTED, quality GREEN" if self.platform == "whatsapp" else None,
        )

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult:
        bot_id = self._check("unregister", token, account)
        had = await self._webhook(bot_id)
        await self._set(bot_id, None)
        # Slack's auth.revoke revokes the token whether or not an event URL was set.
        return UnregisterResult(platform=self.platform, removed=self.platform == "slack" or had is not None)


class BotPlatforms:
    """The bots capability: picks the platform client, the token (input's or the default) and
    the account ids (the input's; the settings' fill the gaps only with the default token)."""

    name = "bots"

    def __init__(
        self,
        clients: dict[str, BotPlatformClient],
        default_tokens: dict[str, str | None] | None = None,
        *,
        default_accounts: dict[str, BotAccount] | None = None,
        default_webhook_secrets: dict[str, str | None] | None = None,
    ) -> None:
        self.clients = clients
        self._default_tokens = default_tokens or {}
        self._default_accounts = default_accounts or {}
        self._default_webhook_secrets = default_webhook_secrets or {}

    def _resolve(
        self, platform: str, token: str | None, account: BotAccount
    ) -> tuple[BotPlatformClient, str, BotAccount]:
        client = self.clients.get(platform)
        if client is None:
            raise ValidationError(f"no bot-platform adapter for {platform} bots (have: {', '.join(self.clients)})")
        if token:
            return client, token, account
        chosen = self._default_tokens.get(platform) or ("sandbox" if isinstance(client, SandboxBots) else None)
        if not chosen:
            variable = "WHATSAPP_TOKEN" if platform == "whatsapp" else f"{platform.upper()}_BOT_TOKEN"
            raise ValidationError(f"no {platform} bot token: give one or set {variable}")
        return client, chosen, account.merged_over(self._default_accounts.get(platform, BotAccount()))

    async def register(self, input: RegisterBotInput) -> BotIdentity:
        client, token, account = self._resolve(input.platform, input.token, input.account)
        return await client.register(token, account)

    async def set_webhook(self, input: SetWebhookInput) -> WebhookResult:
        client, token, account = self._resolve(input.platform, input.token, input.account)
        secret = input.secret_token or self._default_webhook_secrets.get(input.platform)
        return await client.set_webhook(token, input.url, secret, account)

    async def health(self, input: BotHealthInput) -> BotHealth:
        client, token, account = self._resolve(input.platform, input.token, input.account)
        return await client.health(token, account)

    async def unregister(self, input: UnregisterBotInput) -> UnregisterResult:
        client, token, account = self._resolve(input.platform, input.token, input.account)
        return await client.unregister(token, account)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_bot_platforms(
    settings: Settings, modes: dict[str, Mode], sandbox: Sandbox, http: httpx.AsyncClient | None
) -> BotPlatforms:
    """Each platform's client, real when its provider's mode is real (and an HTTP client exists)."""
    s = settings

    def pick(platform: BotPlatform, real: Callable[[httpx.AsyncClient], BotPlatformClient]) -> BotPlatformClient:
        # A WhatsApp bot follows the whatsapp provider; every other platform is its own provider.
        if modes.get(platform) == "real" and http is not None:
            return real(http)
        return SandboxBots(sandbox, platform)

    clients: dict[str, BotPlatformClient] = {
        "discord": pick("discord", lambda h: DiscordBots(h, base_url=s.discord_base_url)),
        "telegram": pick("telegram", lambda h: TelegramBots(h, base_url=s.telegram_base_url)),
        "slack": pick("slack", lambda h: SlackBots(h, base_url=s.slack_base_url)),
        "whatsapp": pick(
            "whatsapp", lambda h: WhatsAppBots(h, api_version=s.whatsapp_api_version, base_url=s.whatsapp_base_url)
        ),
    }
    return BotPlatforms(
        clients,
        {
            "discord": _secret(s.discord_bot_token),
            "telegram": _secret(s.telegram_bot_token),
            "slack": _secret(s.slack_bot_token),
            "whatsapp": _secret(s.whatsapp_token),
        },
        default_accounts={
            # trusted settings: not re-validated against the input patterns
            "whatsapp": BotAccount.model_construct(
                phone_number_id=s.whatsapp_phone_number_id, business_account_id=s.whatsapp_business_account_id
            )
        },
        default_webhook_secrets={"whatsapp": _secret(s.whatsapp_verify_token)},
    )
