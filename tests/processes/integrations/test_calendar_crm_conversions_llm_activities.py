"""The other capability activities on the sandboxes: one provider call per key, typed errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx2
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.config import Settings
from followthrough.llm.activities import LLMActivities
from followthrough.processes.bookings.calendar_activities import CalendarActivities
from followthrough.processes.integrations.conversions import ConversionsActivities
from followthrough.processes.integrations.crm import CRMActivities
from followthrough.providers.contracts.calendar import CancelBookingInput, CreateBookingInput
from followthrough.providers.contracts.conversions import SendEventInput
from followthrough.providers.contracts.crm import UpsertContactInput
from followthrough.providers.contracts.llm import CompleteInput
from followthrough.providers.factory import build_providers
from followthrough.services import Services


def calls(services: Services, operation: str) -> int:
    return len([c for c in services.providers.sandbox.calls if c[1] == operation])


async def test_booking_and_cancel_once_per_key(services: Services) -> None:
    activities = CalendarActivities(services)
    env = ActivityEnvironment()
    book = CreateBookingInput(
        start=datetime(2030, 5, 6, 16, 0, tzinfo=UTC),
        attendee_name="Ana",
        attendee_email="ana@example.com",
        metadata={"lead_id": "lead-1"},
        idempotency_key="booking:lead-1:20300506T160000Z:calendar",
    )
    booking = await env.run(activities.create_booking, book)
    assert await env.run(activities.create_booking, book) == booking
    cancel = CancelBookingInput(uid=booking.uid, idempotency_key="booking:lead-1:20300506T160000Z:cancel")
    await env.run(activities.cancel_booking, cancel)
    await env.run(activities.cancel_booking, cancel)
    assert (calls(services, "create_booking"), calls(services, "cancel_booking")) == (1, 1)


async def test_cancel_unknown_booking_is_non_retryable(services: Services) -> None:
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            CalendarActivities(services).cancel_booking, CancelBookingInput(uid="missing", idempotency_key="c")
        )
    assert (info.value.type, info.value.non_retryable) == ("ValidationError", True)


async def test_crm_and_conversions_once_per_key(services: Services) -> None:
    env = ActivityEnvironment()
    contact = UpsertContactInput(email="ana@example.com", lifecycle_stage="lead", idempotency_key="sync:lead-1:crm")
    first = await env.run(CRMActivities(services).upsert_contact, contact)
    assert first.created and await env.run(CRMActivities(services).upsert_contact, contact) == first
    again = await env.run(
        CRMActivities(services).upsert_contact, contact.model_copy(update={"idempotency_key": "sync:lead-1:crm:2"})
    )
    assert (again.contact_id, again.created) == (first.contact_id, False)
    event = SendEventInput(
        event_name="Schedule",
        event_time=datetime.now(UTC),
        phone="+5215512345678",
        idempotency_key="capi:lead-1:schedule",
    )
    await env.run(ConversionsActivities(services).send_event, event)
    await env.run(ConversionsActivities(services).send_event, event)
    assert (calls(services, "upsert_contact"), calls(services, "send_event")) == (2, 1)


async def test_llm_with_key_is_recorded_without_key_is_not(
    services: Services, make_settings: Callable[..., Settings]
) -> None:
    requests: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {len(requests)}"}}],
            },
        )

    sandboxed = services.providers
    services.providers = build_providers(
        make_settings(openai_base_url="http://llm.fake/v1"),
        sandboxed.outbox,
        openai_http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    try:
        env = ActivityEnvironment()
        activities = LLMActivities(services)
        keyed = CompleteInput(prompt="summarise", idempotency_key="memory:lead-1:2030-01-01")
        assert (await env.run(activities.complete, keyed)).text == "answer 1"
        assert (await env.run(activities.complete, keyed)).text == "answer 1"
        assert (await env.run(activities.complete, CompleteInput(prompt="free"))).text == "answer 2"
        assert len(requests) == 2
        assert requests[0].headers["Authorization"] == "Bearer unused"  # a local server needs no key
    finally:
        await services.providers.aclose()
        services.providers = sandboxed
