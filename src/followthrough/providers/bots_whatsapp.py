"""WhatsApp bots over the WhatsApp Cloud API (Graph API, ``Authorization: Bearer <token>``).

A WhatsApp "bot" is a business phone number (``phone_number_id``) of a WhatsApp Business
Account (``business_account_id``, the WABA) whose webhooks reach the bot:

* register — ``GET /{version}/{phone_number_id}?fields=…``: the number exists and the token may
  read it; the bot's id is the phone number id, its name the verified business name;
* set webhook — ``POST /{version}/{waba_id}/subscribed_apps`` with ``override_callback_uri`` and
  ``verify_token`` (Meta's documented per-WABA webhook override): subscribes the token's app to
  the WABA and sends that WABA's webhooks to the bot's URL. Meta verifies the URL at once with
  the ``hub.verify_token`` handshake, so the verify token is required (the input's
  ``secret_token``, else ``WHATSAPP_VERIFY_TOKEN``);
* health — the same ``GET`` of the phone number: healthy while its ``status`` is ``CONNECTED``
  (``FLAGGED``, ``RESTRICTED``, ``BANNED``, ``DISCONNECTED``… are not); ``quality_rating`` is
  reported in ``detail``;
* unregister — ``DELETE /{version}/{waba_id}/subscribed_apps``: the app stops receiving the
  WABA's webhooks.

Errors map like every Graph API client (:func:`graph_api_classifier`: code 190 → authentication,
rate codes → retryable, 368/131031 → suspended).
"""

from __future__ import annotations

from typing import Any

import httpx

from followthrough.errors import ValidationError
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealth,
    BotIdentity,
    BotPlatform,
    UnregisterResult,
    WebhookResult,
    missing_account_fields,
)
from followthrough.providers.http import graph_api_classifier, send_json

PROVIDER = "whatsapp"

PHONE_FIELDS = "id,display_phone_number,verified_name,quality_rating,status"

#: Phone number statuses in which the number sends and receives.
HEALTHY_STATUSES = frozenset({"CONNECTED"})


def need(operation: str, account: BotAccount | None) -> BotAccount:
    """The account, or a :class:`ValidationError` naming what ``operation`` lacks."""
    account = account or BotAccount()
    problems = missing_account_fields(PROVIDER, operation, account)
    if problems:
        raise ValidationError("; ".join(problems), provider=PROVIDER)
    return account


def need_verify_token(secret_token: str | None) -> str:
    if not secret_token:
        raise ValidationError(
            "whatsapp set_webhook needs a verify token: Meta checks the callback URL with it at once "
            "(give secret 'verify_token' or set WHATSAPP_VERIFY_TOKEN)",
            provider=PROVIDER,
        )
    return secret_token


def phone_health(phone: dict[str, Any]) -> BotHealth:
    """The health of a phone number as the Graph API describes it."""
    status = phone.get("status")
    quality = phone.get("quality_rating")
    return BotHealth(
        platform="whatsapp",
        ok=status is None or status in HEALTHY_STATUSES,
        username=phone.get("verified_name") or phone.get("display_phone_number"),
        detail=f"status {status or 'unknown'}, quality {quality or 'unknown'}",
    )


class WhatsAppBots:
    platform: BotPlatform = "whatsapp"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_version: str = "v21.0",
        base_url: str = "https://graph.facebook.com",
    ) -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/{api_version}"
        self._classify = graph_api_classifier(PROVIDER)

    async def _call(self, token: str, method: str, path: str, **kwargs: Any) -> Any:
        return await send_json(
            self._http,
            PROVIDER,
            method,
            f"{self._base}/{path}",
            headers={"Authorization": f"Bearer {token}"},
            classify=self._classify,
            **kwargs,
        )

    async def _phone(self, token: str, account: BotAccount) -> dict[str, Any]:
        phone = await self._call(token, "GET", str(account.phone_number_id), params={"fields": PHONE_FIELDS})
        if not isinstance(phone, dict) or not phone.get("id"):
            raise ValidationError(f"whatsapp answered no phone number for {account.phone_number_id}", provider=PROVIDER)
        return phone

    async def register(self, token: str, account: BotAccount | None = None) -> BotIdentity:
        phone = await self._phone(token, need("register", account))
        name = phone.get("verified_name") or phone.get("display_phone_number") or ""
        return BotIdentity(platform="whatsapp", bot_id=str(phone["id"]), username=str(name))

    async def set_webhook(
        self, token: str, url: str, secret_token: str | None, account: BotAccount | None = None
    ) -> WebhookResult:
        waba = need("set_webhook", account).business_account_id
        body = {"override_callback_uri": url, "verify_token": need_verify_token(secret_token)}
        answer = await self._call(token, "POST", f"{waba}/subscribed_apps", json=body)
        return WebhookResult(platform="whatsapp", url=url, active=bool(answer.get("success")))

    async def health(self, token: str, account: BotAccount | None = None) -> BotHealth:
        return phone_health(await self._phone(token, need("health", account)))

    async def unregister(self, token: str, account: BotAccount | None = None) -> UnregisterResult:
        waba = need("unregister", account).business_account_id
        answer = await self._call(token, "DELETE", f"{waba}/subscribed_apps")
        return UnregisterResult(platform="whatsapp", removed=bool(answer.get("success")))
