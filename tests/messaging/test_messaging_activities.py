"""``messaging.send``: once per idempotency key, provider errors as typed ApplicationErrors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.config import Settings
from followthrough.leads.models import Lead
from followthrough.messaging.activities import MessagingActivities
from followthrough.processes.followups.rules import FollowUpStep, send_request
from followthrough.processes.payments.rules import PaymentInput, payment_message
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.providers.factory import build_providers
from followthrough.providers.messaging import EMPTY_PARAMETER
from followthrough.services import Services
from followthrough.store.models import Lead as LeadRecord


async def lead_wrote(services: Services, lead_id: str, at: datetime | None) -> None:
    """The store's record of the lead, whose last message came in ``at`` (None: never)."""
    async with services.database.session() as session:
        await session.merge(LeadRecord(id=lead_id, last_inbound_at=at))


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


# --- approved templates (WHATSAPP_TEMPLATES) -------------------------------------------------------
TEMPLATES_JSON = (
    '{"payment/link": {"name": "payment_link", "parameters": ["name", "amount", "url"], "languages": {"es": "es_MX"}},'
    ' "pre_demo_24h/24h_before": {"name": "demo_tomorrow", "parameters": ["name", "demo_date", "demo_time"]}}'
)


@pytest.fixture
async def templated_services(services: Services, make_settings: Callable[..., Settings]) -> AsyncIterator[Services]:
    """``real_services`` with two catalog messages mapped to approved templates."""
    settings = make_settings(
        whatsapp_token="EAAt",
        whatsapp_phone_number_id="106",
        whatsapp_base_url="https://wa.fake",
        whatsapp_templates=TEMPLATES_JSON,
    )
    sandboxed, original = services.providers, services.settings
    services.providers, services.settings = build_providers(settings, sandboxed.outbox), settings
    try:
        yield services
    finally:
        await services.providers.aclose()
        services.providers, services.settings = sandboxed, original


async def test_a_mapped_payment_link_goes_out_as_its_approved_template(templated_services: Services) -> None:
    lead = Lead(id="lead-9", phone="+5215512345678", name="Ana López", language="es")
    order = PaymentInput(lead=lead, reference="plan-pro", amount=150000, currency="MXN", description="Plan Pro")
    send = payment_message(order, "link", "https://pay.fake/cs_1")
    with respx.mock:
        route = respx.post(WA).respond(200, json={"messages": [{"id": "wamid.T1"}]})
        result = await ActivityEnvironment().run(MessagingActivities(templated_services).send, send)
    assert result.message_id == "wamid.T1"
    body = json.loads(route.calls.last.request.content)
    assert body["type"] == "template" and "text" not in body
    assert body["template"] == {
        "name": "payment_link",
        "language": {"code": "es_MX"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "text", "text": "1,500.00 MXN"},
                    {"type": "text", "text": "https://pay.fake/cs_1"},
                ],
            }
        ],
    }
    entry = await templated_services.providers.outbox.get(send.idempotency_key)
    assert entry is not None and entry.request["template"]["name"] == "payment_link"  # what really went out


async def test_a_mapped_message_goes_out_as_text_while_the_window_is_open(templated_services: Services) -> None:
    lead = Lead(id="lead-9", phone="+5215512345678", name="Ana", language="es")
    await lead_wrote(templated_services, lead.id, datetime.now(UTC) - timedelta(hours=2))
    order = PaymentInput(lead=lead, reference="plan-pro", amount=150000, currency="MXN", description="Plan Pro")
    send = payment_message(order, "link", "https://pay.fake/cs_1")  # mapped to payment_link
    with respx.mock:
        route = respx.post(WA).respond(200, json={"messages": [{"id": "wamid.T2"}]})
        await ActivityEnvironment().run(MessagingActivities(templated_services).send, send)
    body = json.loads(route.calls.last.request.content)
    assert body["type"] == "text" and body["text"]["body"] == send.text and "template" not in body


async def test_an_unmapped_message_outside_the_window_fails_before_any_request(templated_services: Services) -> None:
    lead = Lead(id="lead-9", phone="+5215512345678", name=None, language="en")
    await lead_wrote(templated_services, lead.id, datetime.now(UTC) - timedelta(days=3))
    order = PaymentInput(lead=lead, reference="plan-pro", amount=150000, currency="MXN", description="Plan Pro")
    send = payment_message(order, "receipt", None)  # payment/receipt is not mapped
    with respx.mock:
        route = respx.post(WA).respond(200, json={"messages": [{"id": "wamid.T2"}]})
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(MessagingActivities(templated_services).send, send)
    assert route.call_count == 0
    assert (info.value.type, info.value.non_retryable) == ("OutsideCustomerServiceWindow", True)
    assert "'payment/receipt' in 'en'" in info.value.message and "WHATSAPP_TEMPLATES" in info.value.message
    assert await templated_services.providers.outbox.get(send.idempotency_key) is None


async def test_a_followup_maps_its_demo_time_and_an_empty_name(templated_services: Services) -> None:
    lead = Lead(id="lead-3", phone="+5215512345678", name=None, language="en")
    step = FollowUpStep(index=1, name="24h_before", due_at=datetime(2026, 5, 1, 15, 0, tzinfo=UTC))
    send = send_request(lead, "pre_demo_24h", step, datetime(2026, 5, 2, 15, 30, tzinfo=UTC))
    with respx.mock:
        route = respx.post(WA).respond(200, json={"messages": [{"id": "wamid.T3"}]})
        await ActivityEnvironment().run(MessagingActivities(templated_services).send, send)
    template = json.loads(route.calls.last.request.content)["template"]
    assert template["language"] == {"code": "en"}  # no mapping for en: the lead's own code
    assert [p["text"] for p in template["components"][0]["parameters"]] == [EMPTY_PARAMETER, "2026-05-02", "15:30"]
