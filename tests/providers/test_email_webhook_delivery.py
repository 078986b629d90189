"""The email (Resend) and webhook-delivery clients against local HTTP fakes (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.email import EmailMessage, ResendEmail
from followthrough.providers.signatures import InvalidSignature, StaleSignature
from followthrough.providers.webhook_delivery import (
    SIGNATURE_HEADER,
    HttpWebhookDelivery,
    WebhookDelivery,
    verify_delivery_signature,
)

MESSAGE = EmailMessage(to="a@b.co", subject="Hi", text="Body", idempotency_key="notification:n1:email")


@respx.mock
async def test_resend_sends_with_bearer_and_idempotency_key() -> None:
    route = respx.post("https://api.resend.com/emails").mock(return_value=httpx.Response(200, json={"id": "em_1"}))
    async with httpx.AsyncClient() as http:
        receipt = await ResendEmail(http, api_key="re_key", sender="X <x@y.z>").send(MESSAGE)
    assert receipt.message_id == "em_1"
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer re_key"
    assert request.headers["idempotency-key"] == "notification:n1:email"
    assert json.loads(request.content) == {"from": "X <x@y.z>", "to": ["a@b.co"], "subject": "Hi", "text": "Body"}


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (422, ValidationError), (429, RetryableError), (503, RetryableError)],
)
@respx.mock
async def test_resend_errors_are_classified(status: int, error: type[Exception]) -> None:
    respx.post("https://api.resend.com/emails").mock(
        return_value=httpx.Response(status, json={"message": "nope"}, headers={"retry-after": "3"})
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(error):
            await ResendEmail(http, api_key="k", sender="x@y.z").send(MESSAGE)


@respx.mock
async def test_a_webhook_delivery_is_signed_and_verifiable() -> None:
    route = respx.post("https://partner.example/hook").mock(return_value=httpx.Response(204))
    delivery = WebhookDelivery(url="https://partner.example/hook", payload={"a": 1}, idempotency_key="k1")
    async with httpx.AsyncClient() as http:
        receipt = await HttpWebhookDelivery(http, secret="whsec").deliver(delivery)
    assert receipt.status_code == 204
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "k1"
    verify_delivery_signature(request.content, request.headers[SIGNATURE_HEADER], "whsec")
    with pytest.raises(InvalidSignature):
        verify_delivery_signature(b'{"a":2}', request.headers[SIGNATURE_HEADER], "whsec")
    with pytest.raises(StaleSignature):
        verify_delivery_signature(request.content, request.headers[SIGNATURE_HEADER], "whsec", now=4_000_000_000)


@respx.mock
async def test_a_gone_webhook_is_permanent_and_a_down_one_retries() -> None:
    respx.post("https://gone.example/h").mock(return_value=httpx.Response(410))
    respx.post("https://down.example/h").mock(return_value=httpx.Response(502))
    async with httpx.AsyncClient() as http:
        client = HttpWebhookDelivery(http)
        with pytest.raises(ValidationError):
            await client.deliver(WebhookDelivery(url="https://gone.example/h", payload={}, idempotency_key="k"))
        with pytest.raises(RetryableError):
            await client.deliver(WebhookDelivery(url="https://down.example/h", payload={}, idempotency_key="k"))
