"""Webhook delivery: POST a notification as signed JSON to the partner's URL.

* :class:`HttpWebhookDelivery` — ``POST <url>`` with ``Content-Type: application/json``,
  ``Idempotency-Key`` (the receiver dedupes on it) and, when ``NOTIFICATION_WEBHOOK_SECRET`` is
  set, ``X-Followthrough-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`` so the
  receiver can reject forged and replayed deliveries (:func:`verify_delivery_signature`).
  2xx is delivered; 429/408/5xx and transport faults retry; any other status is permanent.
  The URL is the user's: it is checked before each call (:class:`~followthrough.providers.urls.
  UrlGuard`: never an internal address), the worker gives it the client of
  :mod:`~followthrough.providers.guarded_http` (which dials only the address it vetted, so a
  name cannot rebind to an internal one after the check), redirects are not followed (a 3xx is the answer, and
  permanent), and what the receiver answered is summarised as its status and body length only,
  never echoed into the workflow's result or error.
* :class:`SandboxWebhookDelivery` — records the delivery in the outbox and answers an id.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field

from followthrough.errors import ValidationError
from followthrough.providers.http import error_for_status, transport_error
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.signatures import InvalidSignature, StaleSignature, hmac_sha256_hex, same
from followthrough.providers.urls import UrlGuard

SIGNATURE_HEADER = "X-Followthrough-Signature"


class WebhookDelivery(BaseModel):
    url: str = Field(pattern=r"^https?://")
    payload: dict[str, Any]
    idempotency_key: str = Field(min_length=1, max_length=255)


class WebhookReceipt(BaseModel):
    delivery_id: str
    status_code: int


class WebhookDeliveryProvider(Protocol):
    name: str

    async def deliver(self, delivery: WebhookDelivery) -> WebhookReceipt: ...


def sign_delivery(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={hmac_sha256_hex(secret, str(timestamp).encode() + b'.' + body)}"


def verify_delivery_signature(
    body: bytes, header: str | None, secret: str, *, max_age: float = 300.0, now: float | None = None
) -> None:
    """What a receiver runs: raise :class:`InvalidSignature` / :class:`StaleSignature`."""
    parts = dict(item.split("=", 1) for item in (header or "").split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        raise InvalidSignature(f"missing or malformed {SIGNATURE_HEADER}")
    expected = hmac_sha256_hex(secret, parts["t"].encode() + b"." + body)
    if not same(expected, parts["v1"]):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body")
    if abs((now if now is not None else time.time()) - int(parts["t"])) > max_age:
        raise StaleSignature(f"{SIGNATURE_HEADER} is older than {max_age:.0f}s")


class HttpWebhookDelivery:
    name = "webhook"

    def __init__(self, http: httpx.AsyncClient, *, secret: str | None = None, guard: UrlGuard | None = None) -> None:
        self._http = http
        self._secret = secret
        self._guard = guard or UrlGuard()

    async def deliver(self, delivery: WebhookDelivery) -> WebhookReceipt:
        await self._guard.check(delivery.url, provider=self.name)
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.idempotency_key}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign_delivery(self._secret, body, int(time.time()))
        try:
            response = await self._http.request(
                "POST", delivery.url, content=body, headers=headers, follow_redirects=False
            )
        except httpx.TransportError as exc:
            raise transport_error(self.name, exc) from exc
        if response.is_redirect:
            raise ValidationError(
                f"{self.name} answered {response.status_code} ({len(response.content)} bytes): "
                "redirects are not followed",
                provider=self.name,
                status=response.status_code,
            )
        if not response.is_success:
            summary = f"{len(response.content)} bytes"
            raise error_for_status(self.name, response.status_code, summary, response.headers)
        return WebhookReceipt(
            delivery_id=response.headers.get("x-delivery-id") or stable_id("webhook", delivery.idempotency_key),
            status_code=response.status_code,
        )


class SandboxWebhookDelivery:
    name = "webhook"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def deliver(self, delivery: WebhookDelivery) -> WebhookReceipt:
        async def respond() -> WebhookReceipt:
            return WebhookReceipt(
                delivery_id=f"sandbox-webhook-{stable_id('webhook', delivery.idempotency_key)}", status_code=200
            )

        return await self._sandbox.side_effect(self.name, "deliver", delivery.idempotency_key, delivery, respond)
