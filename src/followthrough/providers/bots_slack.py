"""Slack bots over the Web API (``https://slack.com/api/<method>``, ``Authorization: Bearer``).

* register and health — ``auth.test`` with the bot token (``xoxb-…``): the bot's id and name;
* set webhook — Slack has no API that sets an Events API request URL with a bot token. With the
  app's id and an app *configuration* token (``xoxe.xoxp-…``) the URL is written into the app's
  manifest: ``apps.manifest.export``, set ``settings.event_subscriptions.request_url``, then
  ``apps.manifest.update`` with the whole manifest (the method replaces it). Slack then sends its
  ``url_verification`` challenge to that URL. Without them nothing is called and the result says
  what a person must do (``manual_step_required``);
* unregister — ``auth.revoke``: the token stops working, which is what undeploying a Slack bot
  means (the app stays installed until its owner removes it).

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": "<code>"}``, so the code is
mapped here: ``invalid_auth``/``not_authed``/``token_revoked``/``token_expired`` →
:class:`AuthenticationError`, ``account_inactive`` → :class:`AccountSuspendedError`,
``missing_scope``/``not_allowed_token_type``/``no_permission`` → :class:`InvalidCredentialsError`,
``ratelimited`` (also sent as HTTP 429) → :class:`RetryableError` with ``Retry-After``,
``internal_error``/``fatal_error``/``service_unavailable``/``request_timeout`` → retryable, any
other code → :class:`ValidationError` with Slack's code (and an invalid manifest's ``errors``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from followthrough.errors import (
    AccountSuspendedError,
    AuthenticationError,
    FollowthroughError,
    InvalidCredentialsError,
    RetryableError,
    ValidationError,
)
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealth,
    BotIdentity,
    BotPlatform,
    UnregisterResult,
    WebhookResult,
    slack_manifest_configurable,
    slack_manual_step,
)
from followthrough.providers.http import parse_body, parse_retry_after, send

PROVIDER = "slack"

_AUTH = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired"})
_SUSPENDED = frozenset({"account_inactive"})
_FORBIDDEN = frozenset({"missing_scope", "not_allowed_token_type", "no_permission", "access_denied"})
_RATE = frozenset({"ratelimited", "rate_limited"})
_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def slack_error(method: str, body: dict[str, Any], headers: httpx.Headers | None = None) -> FollowthroughError:
    """The error class for an ``ok: false`` answer of ``method``."""
    code = str(body.get("error") or "unknown_error")
    detail = ""
    if isinstance(body.get("errors"), list):  # invalid_manifest explains itself
        detail = "; " + "; ".join(
            f"{e.get('pointer', '')}: {e.get('message', '')}" for e in body["errors"] if isinstance(e, dict)
        )
    needed = f" (needs {body['needed']})" if body.get("needed") else ""
    text = f"slack {method} answered ok=false: {code}{needed}{detail}"
    if code in _AUTH:
        return AuthenticationError(text, provider=PROVIDER)
    if code in _SUSPENDED:
        return AccountSuspendedError(text, provider=PROVIDER)
    if code in _FORBIDDEN:
        return InvalidCredentialsError(text, provider=PROVIDER)
    if code in _RATE:
        retry_after = parse_retry_after(headers.get("retry-after")) if headers is not None else None
        return RetryableError(text, provider=PROVIDER, status=429, retry_after=retry_after)
    if code in _TRANSIENT:
        return RetryableError(text, provider=PROVIDER)
    return ValidationError(text, provider=PROVIDER)


class SlackBots:
    platform: BotPlatform = "slack"

    def __init__(self, http: httpx.AsyncClient, *, base_url: str = "https://slack.com/api") -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def _call(self, token: str, method: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        """POST a Web API method (form-encoded, as every method accepts) and check ``ok``.

        A non-2xx answer (429 with ``Retry-After``, 5xx) maps like any HTTP status first."""
        response = await send(
            self._http,
            PROVIDER,
            "POST",
            f"{self._base}/{method}",
            headers={"Authorization": f"Bearer {token}"},
            data=form or {},
        )
        body = parse_body(response.text)
        if not isinstance(body, dict):
            raise RetryableError(f"slack {method} answered {response.status_code} with a body that is not JSON")
        if not body.get("ok"):
            raise slack_error(method, body, response.headers)
        return body

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity:
        me = await self._call(token, "auth.test")
        bot_id = me.get("bot_id") or me.get("user_id")
        if not bot_id:
            raise ValidationError("slack auth.test answered no bot_id or user_id", provider=PROVIDER)
        return BotIdentity(platform="slack", bot_id=str(bot_id), username=str(me.get("user") or ""))

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult:
        account = account or BotAccount()
        if not slack_manifest_configurable(account):
            return WebhookResult(platform="slack", url=None, active=False, manual_step_required=slack_manual_step(url))
        assert account.app_id is not None and account.app_config_token is not None
        exported = await self._call(account.app_config_token, "apps.manifest.export", {"app_id": account.app_id})
        manifest = exported.get("manifest")
        if not isinstance(manifest, dict):
            raise ValidationError("slack apps.manifest.export answered no manifest", provider=PROVIDER)
        settings = manifest.setdefault("settings", {})
        settings.setdefault("event_subscriptions", {})["request_url"] = url
        await self._call(
            account.app_config_token,
            "apps.manifest.update",
            {"app_id": account.app_id, "manifest": json.dumps(manifest, separators=(",", ":"))},
        )
        return WebhookResult(platform="slack", url=url, active=True)

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth:
        me = await self._call(token, "auth.test")
        return BotHealth(platform="slack", ok=True, username=me.get("user"), detail=me.get("team"))

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult:
        answer = await self._call(token, "auth.revoke")
        return UnregisterResult(platform="slack", removed=bool(answer.get("revoked")))
