"""Messaging: the WhatsApp Cloud API.

* :class:`WhatsAppClient` — ``POST {base}/{version}/{phone_number_id}/messages`` with a Bearer
  token; text and template messages.
* :class:`SandboxMessaging` — answers a ``wamid.`` id, records the message in the outbox.
* :func:`with_approved_template` — a catalog text as the approved template ``WHATSAPP_TEMPLATES``
  maps it to (WhatsApp refuses free text outside the 24-hour customer-service window).
* :func:`verify_whatsapp_signature` — the ``X-Hub-Signature-256`` HMAC of the raw body with the
  app secret; :func:`verify_whatsapp_subscription` — the GET ``hub.challenge`` handshake.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from followthrough.errors import ValidationError
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult, TemplateMessage
from followthrough.providers.contracts.templates import PLACEHOLDERS, TEMPLATES
from followthrough.providers.http import graph_api_classifier, send_json
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.signatures import (
    InvalidSignature,
    StaleSignature,
    hmac_sha256_hex,
    same,
)

#: What an empty value becomes in a template parameter (WhatsApp refuses empty parameters).
EMPTY_PARAMETER = "—"


class WhatsAppTemplate(BaseModel):
    """One catalog message mapped to an approved WhatsApp template (``WHATSAPP_TEMPLATES``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    parameters: list[str] = Field(
        default_factory=list, max_length=20, description="placeholders, in the template's {{1}}, {{2}}… order"
    )
    languages: dict[str, str] = Field(
        default_factory=dict, description="lead language → the template's language code (default: the same)"
    )

    @field_validator("parameters")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown placeholder {unknown[0]!r} (known: {', '.join(PLACEHOLDERS)})")
        return value


def parse_whatsapp_templates(raw: str) -> dict[str, WhatsAppTemplate]:
    """``WHATSAPP_TEMPLATES``: a JSON object, catalog message → template. ValueError names the
    entry at fault, e.g. ``{"payment/link": {"name": "payment_link", "parameters": ["name",
    "amount", "url"], "languages": {"es": "es_MX"}}}``."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object: {"<message>": {"name": ..., "parameters": [...]}}')
    templates: dict[str, WhatsAppTemplate] = {}
    for message, entry in data.items():
        if message not in TEMPLATES:
            raise ValueError(f"{message!r} is not a catalog message (one of: {', '.join(sorted(TEMPLATES))})")
        try:
            templates[message] = WhatsAppTemplate.model_validate(entry)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            reason = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{message}: {where + ': ' if where else ''}{reason}") from None
    return templates


def with_approved_template(input: SendMessageInput, templates: Mapping[str, WhatsAppTemplate]) -> SendMessageInput:
    """The message as it goes out: a catalog text whose message is mapped becomes that template,
    its parameters filled from the values the text was rendered from; anything else unchanged."""
    if input.template is not None or input.catalog is None:
        return input
    mapped = templates.get(input.catalog.message)
    if mapped is None:
        return input
    language = input.catalog.language
    template = TemplateMessage(
        name=mapped.name,
        language=mapped.languages.get(language, language),
        parameters=[input.catalog.fields.get(p) or EMPTY_PARAMETER for p in mapped.parameters],
    )
    return input.model_copy(update={"text": None, "template": template})


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
) -> None:
    """Accept a webhook delivery only if ``X-Hub-Signature-256`` is ``sha256=<HMAC of body>``.

    WhatsApp signs no timestamp, so a replay is the very body Meta redelivers: the route
    deduplicates by message id instead. With ``max_age`` a delivery whose messages/statuses are
    older than that many seconds is refused as stale. Raises :class:`InvalidSignature` /
    :class:`StaleSignature`.
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
