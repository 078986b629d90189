"""The email (Resend) and webhook-delivery clients against local HTTP fakes (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.email import EmailMessage, ResendEmail
from followthrough.providers.signatures import InvalidSignature, StaleSignature
from followthrough.providers.urls import UrlGuard
from followthrough.providers.webhook_delivery import (
    SIGNATURE_HEADER,
    HttpWebhookDelivery,
    WebhookDelivery,
    verify_delivery_signature,
)


async def public(host: str, port: int) -> list[str]:
    """A resolver that answers a public address for every name (the fakes are respx's)."""
    return ["93.184.215.14"]


PUBLIC = UrlGuard(resolver=public)

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
        receipt = await HttpWebhookDelivery(http, secret="whsec", guard=PUBLIC).deliver(delivery)
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
        client = HttpWebhookDelivery(http, guard=PUBLIC)
        with pytest.raises(ValidationError):
            await client.deliver(WebhookDelivery(url="https://gone.example/h", payload={}, idempotency_key="k"))
        with pytest.raises(RetryableError):
            await client.deliver(WebhookDelivery(url="https://down.example/h", payload={}, idempotency_key="k"))


@respx.mock
async def test_a_redirect_to_loopback_is_not_followed() -> None:
    respx.post("https://partner.example/moved").mock(
        return_value=httpx.Response(307, headers={"location": "http://127.0.0.1:8080/admin"})
    )
    internal = respx.post("http://127.0.0.1:8080/admin").mock(return_value=httpx.Response(200))
    async with httpx.AsyncClient(follow_redirects=True) as http:  # even on a client that would follow
        with pytest.raises(ValidationError, match="307 .*redirects are not followed"):
            await HttpWebhookDelivery(http, guard=PUBLIC).deliver(
                WebhookDelivery(url="https://partner.example/moved", payload={}, idempotency_key="k")
            )
    assert not internal.called


@respx.mock
async def test_what_the_receiver_answered_is_summarised_never_echoed() -> None:
    respx.post("https://partner.example/h").mock(return_value=httpx.Response(404, text="ami-id: i-0secret"))
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValidationError) as refused:
            await HttpWebhookDelivery(http, guard=PUBLIC).deliver(
                WebhookDelivery(url="https://partner.example/h", payload={}, idempotency_key="k")
            )
    assert str(refused.value) == "webhook answered 404: 17 bytes"
