"""Bot platforms: Discord and Telegram bot APIs.

One :class:`BotPlatforms` dispatches on ``input.platform`` to a per-platform client, each real
or sandbox on its own (``FOLLOWTHROUGH_PROVIDERS=discord=real,telegram=sandbox``):

* :class:`DiscordBots` — ``GET /users/@me`` with ``Authorization: Bot {token}`` to register and
  health-check, ``PATCH /applications/@me`` to set (or clear) the interactions endpoint URL;
* :class:`TelegramBots` — ``getMe``, ``setWebhook`` (with ``secret_token``),
  ``getWebhookInfo`` and ``deleteWebhook`` under ``/bot{token}/``; Telegram's ``ok: false``
  answers and ``parameters.retry_after`` are mapped like HTTP statuses;
* :class:`SandboxBots` — a stable bot id per token; a token containing ``invalid`` is refused
  with 401, like a revoked one.

Tokens never reach the outbox: the recorded request masks them.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from followthrough.domain.bots import (
    BotHealth,
    BotHealthInput,
    BotIdentity,
    BotPlatform,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
    UnregisterResult,
    WebhookResult,
)
from followthrough.errors import FollowthroughError, RetryableError, ValidationError
from followthrough.providers.http import error_for_status, send_json
from followthrough.providers.sandbox import Sandbox, stable_id


class BotPlatformClient(Protocol):
    """One platform's client, given the bot's token."""

    async def register(self, token: str) -> BotIdentity: ...

    async def set_webhook(self, token: str, url: str, secret_token: str | None) -> WebhookResult: ...

    async def health(self, token: str) -> BotHealth: ...

    async def unregister(self, token: str) -> UnregisterResult: ...


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

    async def register(self, token: str) -> BotIdentity:
        me = await self._call(token, "GET", "/users/@me")
        if not me.get("bot"):
            raise ValidationError("discord: this token belongs to a user, not a bot", provider="discord")
        return BotIdentity(platform="discord", bot_id=str(me["id"]), username=str(me["username"]))

    async def set_webhook(self, token: str, url: str, secret_token: str | None) -> WebhookResult:
        app = await self._call(token, "PATCH", "/applications/@me", json={"interactions_endpoint_url": url})
        return WebhookResult(platform="discord", url=app.get("interactions_endpoint_url"), active=True)

    async def health(self, token: str) -> BotHealth:
        me = await self._call(token, "GET", "/users/@me")
        app = await self._call(token, "GET", "/applications/@me")
        return BotHealth(
            platform="discord", ok=True, username=me.get("username"), webhook_url=app.get("interactions_endpoint_url")
        )

    async def unregister(self, token: str) -> UnregisterResult:
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

    async def register(self, token: str) -> BotIdentity:
        me = await self._call(token, "getMe")
        return BotIdentity(platform="telegram", bot_id=str(me["id"]), username=str(me.get("username", "")))

    async def set_webhook(self, token: str, url: str, secret_token: str | None) -> WebhookResult:
        payload: dict[str, Any] = {"url": url, "drop_pending_updates": False}
        if secret_token:
            payload["secret_token"] = secret_token
        await self._call(token, "setWebhook", payload)
        return WebhookResult(platform="telegram", url=url, active=True)

    async def health(self, token: str) -> BotHealth:
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

    async def unregister(self, token: str) -> UnregisterResult:
        removed = await self._call(token, "deleteWebhook", {"drop_pending_updates": False})
        return UnregisterResult(platform="telegram", removed=bool(removed))


class SandboxBots:
    """Both platforms' sandbox: ``platform`` says which one it plays."""

    def __init__(self, sandbox: Sandbox, platform: BotPlatform) -> None:
        self._sandbox = sandbox
        self.platform = platform

    def _check(self, operation: str, token: str) -> str:
        self._sandbox.enter(self.platform, operation, None, {"token": "***"})
        if "invalid" in token:
            raise error_for_status(self.platform, 401, "Unauthorized (sandbox: the token contains 'invalid')")
        return str(int(stable_id(self.platform, token, length=12), 16))

    async def _webhook(self, bot_id: str) -> str | None:
        entries = await self._sandbox.outbox.entries(provider=f"sandbox:{self.platform}", operation="webhook")
        mine = [e for e in entries if e.response and e.response.get("bot_id") == bot_id]
        return mine[-1].response.get("url") if mine and mine[-1].response else None

    async def _set(self, bot_id: str, url: str | None) -> None:
        count = len(await self._sandbox.outbox.entries(provider=f"sandbox:{self.platform}", operation="webhook"))
        await self._sandbox.put_state(self.platform, "webhook", f"{bot_id}:{count}", {"bot_id": bot_id, "url": url})

    async def register(self, token: str) -> BotIdentity:
        bot_id = self._check("register", token)
        return BotIdentity(platform=self.platform, bot_id=bot_id, username=f"sandbox_{self.platform}_{bot_id[-6:]}_bot")

    async def set_webhook(self, token: str, url: str, secret_token: str | None) -> WebhookResult:
        bot_id = self._check("set_webhook", token)
        await self._set(bot_id, url)
        return WebhookResult(platform=self.platform, url=url, active=True)

    async def health(self, token: str) -> BotHealth:
        bot_id = self._check("health", token)
        return BotHealth(
            platform=self.platform,
            ok=True,
            username=f"sandbox_{self.platform}_{bot_id[-6:]}_bot",
            webhook_url=await self._webhook(bot_id),
            pending_updates=0,
        )

    async def unregister(self, token: str) -> UnregisterResult:
        bot_id = self._check("unregister", token)
        had = await self._webhook(bot_id)
        await self._set(bot_id, None)
        return UnregisterResult(platform=self.platform, removed=had is not None)


class BotPlatforms:
    """The bots capability: picks the platform client and the token (input's or the default)."""

    name = "bots"

    def __init__(
        self,
        clients: dict[str, BotPlatformClient],
        default_tokens: dict[str, str | None] | None = None,
    ) -> None:
        self.clients = clients
        self._default_tokens = default_tokens or {}

    def _resolve(self, platform: str, token: str | None) -> tuple[BotPlatformClient, str]:
        client = self.clients[platform]
        chosen = token or self._default_tokens.get(platform) or ("sandbox" if isinstance(client, SandboxBots) else None)
        if not chosen:
            raise ValidationError(f"no {platform} bot token: give one or set {platform.upper()}_BOT_TOKEN")
        return client, chosen

    async def register(self, input: RegisterBotInput) -> BotIdentity:
        client, token = self._resolve(input.platform, input.token)
        return await client.register(token)

    async def set_webhook(self, input: SetWebhookInput) -> WebhookResult:
        client, token = self._resolve(input.platform, input.token)
        return await client.set_webhook(token, input.url, input.secret_token)

    async def health(self, input: BotHealthInput) -> BotHealth:
        client, token = self._resolve(input.platform, input.token)
        return await client.health(token)

    async def unregister(self, input: UnregisterBotInput) -> UnregisterResult:
        client, token = self._resolve(input.platform, input.token)
        return await client.unregister(token)
