"""Messaging: the WhatsApp Cloud API.

* :class:`WhatsAppClient` — ``POST {base}/{version}/{phone_number_id}/messages`` with a Bearer
  token; text and template messages.
* :class:`SandboxMessaging` — answers a ``wamid.`` id, records the message in the outbox.
* :func:`verify_whatsapp_signature` — the ``X-Hub-Signature-256`` HMAC of the raw body with the
  app secret; :func:`verify_whatsapp_subscription` — the GET ``hub.challenge`` handshake.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from followthrough.domain.messaging import SendMessageInput, SendMessageResult
from followthrough.errors import ValidationError
from followthrough.providers.http import graph_api_classifier, send_json
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.signatures import (
    InvalidSignature,
    ReplayCache,
    StaleSignature,
    hmac_sha256_hex,
    same,
)


class MessagingProvider(Protocol):
    name: str

    async def send(self, input: SendMessageInput) -> SendMessageResult: ...


def whatsapp_message_body(input: SendMessageInput) -> dict[str, Any]:
    """The Cloud API's message object: digits-only recipient, text or template."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": input.to.lstrip("+"),
    }
    if input.template is not None:
        template: dict[str, Any] = {"name": input.template.name, "language": {"code": input.template.language}}
        if input.template.parameters:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in input.template.parameters]}
            ]
        body.update(type="template", template=template)
    else:
        body.update(type="text", text={"body": input.text, "preview_url": False})
    return body


class WhatsAppClient:
    name = "whatsapp"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: str,
        phone_number_id: str,
        api_version: str = "v21.0",
        base_url: str = "https://graph.facebook.com",
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}
        self._node = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}"
        self._classify = graph_api_classifier(self.name)

    async def send(self, input: SendMessageInput) -> SendMessageResult:
        data = await send_json(
            self._http,
            self.name,
            "POST",
            f"{self._node}/messages",
            json=whatsapp_message_body(input),
            headers=self._headers,
            classify=self._classify,
        )
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not messages[0].get("id"):
            raise ValidationError(
                f"whatsapp accepted the request but returned no message id: {data}", provider=self.name
            )
        return SendMessageResult(message_id=str(messages[0]["id"]), to=input.to)

    async def health(self) -> str:
        data = await send_json(
            self._http,
            self.name,
            "GET",
            self._node,
            params={"fields": "display_phone_number,verified_name"},
            headers=self._headers,
            classify=self._classify,
        )
        return f"whatsapp {data.get('display_phone_number', '?')} ({data.get('verified_name', '?')})"


class SandboxMessaging:
    name = "whatsapp"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def send(self, input: SendMessageInput) -> SendMessageResult:
        async def respond() -> SendMessageResult:
            wamid = "wamid.SANDBOX" + stable_id("whatsapp", input.idempotency_key, length=32).upper()
            return SendMessageResult(message_id=wamid, to=input.to)

        return await self._sandbox.side_effect(self.name, "send", input.idempotency_key, input, respond)


def verify_whatsapp_signature(
    body: bytes,
    header: str | None,
    app_secret: str,
    *,
    max_age: float | None = None,
    now: datetime | None = None,
    seen: ReplayCache | None = None,
) -> None:
    """Accept a webhook delivery only if ``X-Hub-Signature-256`` is ``sha256=<HMAC of body>``.

    WhatsApp signs no timestamp; with ``max_age`` a delivery whose messages/statuses are older
    than that many seconds is refused as stale, and with ``seen`` a body accepted before is a
    replay. Raises :class:`InvalidSignature` / :class:`StaleSignature`.
    """
    if not header or not header.startswith("sha256="):
        raise InvalidSignature("missing or malformed X-Hub-Signature-256")
    if not same(hmac_sha256_hex(app_secret, body), header.removeprefix("sha256=")):
        raise InvalidSignature("X-Hub-Signature-256 does not match the body")
    if max_age is not None:
        oldest = _oldest_timestamp(body)
        current = (now or datetime.now(UTC)).timestamp()
        if oldest is not None and current - oldest > max_age:
            raise StaleSignature(f"delivery is {current - oldest:.0f}s old (limit {max_age:.0f}s)")
    if seen is not None:
        seen.check_and_add(hashlib.sha256(body).hexdigest())


def _oldest_timestamp(body: bytes) -> float | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    stamps: list[float] = []
    for entry in payload.get("entry", []) if isinstance(payload, dict) else []:
        for change in entry.get("changes", []):
            value = change.get("value", {})
            for item in [*value.get("messages", []), *value.get("statuses", [])]:
                try:
                    stamps.append(float(item["timestamp"]))
                except (KeyError, TypeError, ValueError):
                    continue
    return min(stamps) if stamps else None


def verify_whatsapp_subscription(params: Mapping[str, str], verify_token: str) -> str:
    """The GET handshake Meta makes when the webhook is configured: answer ``hub.challenge``
    when ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is ours."""
    if params.get("hub.mode") != "subscribe":
        raise InvalidSignature("hub.mode is not 'subscribe'")
    if not secrets.compare_digest(params.get("hub.verify_token", "").encode(), verify_token.encode()):
        raise InvalidSignature("hub.verify_token does not match WHATSAPP_VERIFY_TOKEN")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise InvalidSignature("hub.challenge is missing")
    return challenge
