"""``messaging.send``: once per idempotency key, provider errors as typed ApplicationErrors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.activities.messaging import MessagingActivities
from followthrough.config import Settings
from followthrough.domain.messaging import SendMessageInput
from followthrough.providers.factory import build_providers
from followthrough.services import Services

WA = "https://wa.fake/v21.0/106/messages"


def message(key: str = "followup:lead-1:said_later:0") -> SendMessageInput:
    return SendMessageInput(to="+5215512345678", text="¿Seguimos?", idempotency_key=key)


@pytest.fixture
async def real_services(services: Services, make_settings: Callable[..., Settings]) -> AsyncIterator[Services]:
    """``services`` with the real WhatsApp client pointed at a local fake."""
    settings = make_settings(whatsapp_token="EAAt", whatsapp_phone_number_id="106", whatsapp_base_url="https://wa.fake")
    sandboxed = services.providers
    services.providers = build_providers(settings, sandboxed.outbox)
    try:
        yield services
    finally:
        await services.providers.aclose()
        services.providers = sandboxed


async def test_same_key_twice_is_one_outbox_row_and_one_sandbox_call(services: Services) -> None:
    activities = MessagingActivities(services)
    env = ActivityEnvironment()
    first = await env.run(activities.send, message())
    second = await env.run(activities.send, message())
    assert first == second
    assert [c for c in services.providers.sandbox.calls if c[0] == "whatsapp"] == [
        ("whatsapp", "send", message().model_dump(mode="json"))
    ]
    rows = await services.providers.outbox.entries()
    assert [(r.provider, r.operation, r.idempotency_key, r.status, r.attempts) for r in rows] == [
        ("whatsapp", "send", "followup:lead-1:said_later:0", "sent", 1)
    ]


async def test_same_key_twice_is_one_real_api_call(real_services: Services) -> None:
    activities = MessagingActivities(real_services)
    env = ActivityEnvironment()
    with respx.mock:
        route = respx.post(WA).respond(200, json={"messages": [{"id": "wamid.REAL"}]})
        results = [await env.run(activities.send, message()) for _ in range(2)]
    assert route.call_count == 1
    assert {r.message_id for r in results} == {"wamid.REAL"}
    assert len(await real_services.providers.outbox.entries()) == 1


async def test_permanent_error_is_non_retryable_application_error(real_services: Services) -> None:
    activities = MessagingActivities(real_services)
    with respx.mock:
        respx.post(WA).respond(401, json={"error": {"message": "bad token"}})
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(activities.send, message())
    assert (info.value.type, info.value.non_retryable) == ("AuthenticationError", True)
    entry = await real_services.providers.outbox.get(message().idempotency_key)
    assert entry is not None and entry.status == "failed" and "bad token" in (entry.error or "")


async def test_rate_limit_is_retryable_with_delay_then_retry_succeeds(real_services: Services) -> None:
    activities = MessagingActivities(real_services)
    env = ActivityEnvironment()
    with respx.mock:
        respx.post(WA).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "30"}, json={}),
                httpx.Response(200, json={"messages": [{"id": "wamid.2"}]}),
            ]
        )
        with pytest.raises(ApplicationError) as info:
            await env.run(activities.send, message())
        assert (info.value.type, info.value.non_retryable) == ("RetryableError", False)
        assert info.value.next_retry_delay is not None and info.value.next_retry_delay.total_seconds() == 30
        assert (await env.run(activities.send, message())).message_id == "wamid.2"
    entry = await real_services.providers.outbox.get(message().idempotency_key)
    assert entry is not None and (entry.status, entry.attempts) == ("sent", 2)
