"""Messaging: the WhatsApp Cloud API.

* :class:`WhatsAppClient` — ``POST {base}/{version}/{phone_number_id}/messages`` with a Bearer
  token; text and template messages.
* :class:`SandboxMessaging` — answers a ``wamid.`` id, records the message in the outbox.
* :func:`with_approved_template` — a catalog text as the approved template ``WHATSAPP_TEMPLATES``
  maps it to; :func:`for_customer_service_window` — text while the lead's 24-hour
  customer-service window is open, that template once it is closed, and
  :class:`~followthrough.errors.OutsideCustomerServiceWindow` (before anything is sent) when
  there is none; :data:`SANDBOX_TEMPLATES` — the map the sandbox uses when none is configured.
* :func:`verify_whatsapp_signature` — the ``X-Hub-Signature-256`` HMAC of the raw body with the
  app secret; :func:`verify_whatsapp_subscription` — the GET ``hub.challenge`` handshake.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from followthrough.errors import OutsideCustomerServiceWindow, ValidationError
from followthrough.providers.contracts.messaging import (
    CUSTOMER_SERVICE_WINDOW,
    SendMessageInput,
    SendMessageResult,
    TemplateMessage,
    within_customer_service_window,
)
from followthrough.providers.contracts.templates import (
    TEMPLATES,
    WhatsAppTemplate,
)
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


def _sandbox_template(message: str) -> WhatsAppTemplate:
    """``pre_demo_24h/24h_before`` → ``sandbox_pre_demo_24h_24h_before`` with the placeholders its
    English text uses, in order (the sandbox approves whatever it is asked to send)."""
    used = [field for _, field, _, _ in string.Formatter().parse(TEMPLATES[message]["en"]) if field]
    return WhatsAppTemplate(
        name="sandbox_" + message.replace("/", "_").replace("-", "_"), parameters=list(dict.fromkeys(used))
    )


#: The template map of the embedded sandbox when ``WHATSAPP_TEMPLATES`` is unset: every catalog
#: message (each follow-up step and payment message) in every language, so the default stack
#: still sends follow-ups to leads whose window has closed. A real account maps its own.
SANDBOX_TEMPLATES: dict[str, WhatsAppTemplate] = {message: _sandbox_template(message) for message in TEMPLATES}


def window_applies(input: SendMessageInput) -> bool:
    """Whether the 24-hour rule decides this message: a catalog text addressed to a known lead
    (a message given as a template is allowed at any time)."""
    return input.template is None and input.catalog is not None and input.catalog.lead_id is not None


def outside_window_error(input: SendMessageInput, now: datetime) -> OutsideCustomerServiceWindow:
    catalog = input.catalog
    message, language = (catalog.message, catalog.language) if catalog is not None else ("(free text)", "?")
    last = input.last_inbound_at
    since = "has never written" if last is None else f"last wrote {_hours(now - last)} ago"
    return OutsideCustomerServiceWindow(
        f"{message!r} in {language!r} cannot go out: the lead {since}, WhatsApp accepts free-form text only "
        f"within {_hours(CUSTOMER_SERVICE_WINDOW)} of the lead's last message, and no approved template is "
        f"mapped to it; add {message!r} to WHATSAPP_TEMPLATES",
        provider="whatsapp",
    )


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def for_customer_service_window(
    input: SendMessageInput,
    templates: Mapping[str, WhatsAppTemplate],
    *,
    last_inbound_at: datetime | None,
    now: datetime,
) -> SendMessageInput:
    """The message as it goes out under WhatsApp's 24-hour rule.

    A catalog text to a lead who wrote less than 24 hours before ``now`` goes out as text; after
    that (or if they never wrote) as the approved template its message is mapped to, its
    parameters filled in; with no template it raises
    :class:`~followthrough.errors.OutsideCustomerServiceWindow` — before anything is sent.
    Anything else (a template, a text to no lead) goes out as given.
    """
    if not window_applies(input):
        return with_approved_template(input, templates)
    input = input.model_copy(update={"last_inbound_at": last_inbound_at})
    if within_customer_service_window(last_inbound_at, now):
        return input
    templated = with_approved_template(input, templates)
    if templated.template is None:
        raise outside_window_error(input, now)
    return templated


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
    """Answers like the Cloud API, including its 24-hour rule: free-form text to a lead whose
    window is closed (``last_inbound_at`` older than 24 hours, or never) is refused, as Meta
    refuses it (error 131047), and nothing is recorded as sent."""

    name = "whatsapp"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def send(self, input: SendMessageInput) -> SendMessageResult:
        now = self._sandbox.now()
        if window_applies(input) and not within_customer_service_window(input.last_inbound_at, now):
            raise outside_window_error(input, now)

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
