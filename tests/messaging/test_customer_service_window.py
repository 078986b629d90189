"""WhatsApp's 24-hour rule on every catalog message, through ``messaging.send`` on the sandbox:
inside the window text, outside it the approved template, with no template a permanent
failure before anything is sent. The outbox shows which went out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.config import Settings
from followthrough.leads.models import Language, Lead
from followthrough.messaging.activities import MessagingActivities
from followthrough.processes.followups.rules import SCHEDULES, FollowUpStep, send_request
from followthrough.processes.payments.rules import PaymentInput, payment_message
from followthrough.providers.contracts.messaging import SendMessageInput, TemplateMessage
from followthrough.providers.contracts.templates import TEMPLATES
from followthrough.services import Services
from followthrough.store.models import Lead as LeadRecord

DEMO = datetime(2026, 5, 2, 15, 30, tzinfo=UTC)
ORDER_URL = "https://pay.fake/cs_1"


def catalog_sends(language: Language) -> dict[str, SendMessageInput]:
    """``messaging.send`` of every follow-up step and payment message, by catalog message."""
    lead = Lead(id=f"lead-{language}", phone="+5215512345678", name="Ana López", language=language)
    sends: dict[str, SendMessageInput] = {}
    for type, steps in SCHEDULES.items():
        for index, (name, _, _) in enumerate(steps, start=1):
            step = FollowUpStep(index=index, name=name, due_at=DEMO - timedelta(days=1))
            sends[f"{type}/{name}"] = send_request(lead, type, step, DEMO)
    order = PaymentInput(lead=lead, reference="plan-pro", amount=150000, currency="MXN", description="Plan Pro")
    for kind in ("link", "reminder-12h", "receipt"):
        send = payment_message(order, kind, ORDER_URL)
        assert send.catalog is not None
        sends[send.catalog.message] = send
    assert set(sends) == set(TEMPLATES)  # every catalog message is covered
    return sends


CASES = [(message, language) for language in ("es", "en") for message in sorted(TEMPLATES)]


async def lead_wrote(services: Services, lead_id: str, ago: timedelta | None) -> None:
    at = None if ago is None else datetime.now(UTC) - ago
    async with services.database.session() as session:
        await session.merge(LeadRecord(id=lead_id, last_inbound_at=at))


async def whatsapp_rows(services: Services) -> list[dict[str, object]]:
    return [e.request for e in await services.providers.outbox.entries("whatsapp", "send") if e.status == "sent"]


@pytest.fixture
async def no_templates(services: Services, make_settings: Callable[..., Settings]) -> AsyncIterator[Services]:
    """The sandbox with ``WHATSAPP_TEMPLATES={}``: no template for any message."""
    original = services.settings
    services.settings = make_settings(whatsapp_templates="{}")
    try:
        yield services
    finally:
        services.settings = original


@pytest.mark.parametrize(("message", "language"), CASES)
async def test_inside_the_window_a_catalog_message_goes_out_as_text(
    services: Services, message: str, language: Language
) -> None:
    send = catalog_sends(language)[message]
    await lead_wrote(services, f"lead-{language}", timedelta(hours=2))
    await ActivityEnvironment().run(MessagingActivities(services).send, send)
    [request] = await whatsapp_rows(services)
    assert (request["text"], request["template"]) == (send.text, None)


@pytest.mark.parametrize(("message", "language"), CASES)
async def test_outside_the_window_a_catalog_message_goes_out_as_its_template(
    services: Services, message: str, language: Language
) -> None:
    send = catalog_sends(language)[message]
    assert send.catalog is not None
    await lead_wrote(services, f"lead-{language}", timedelta(days=3))
    result = await ActivityEnvironment().run(MessagingActivities(services).send, send)
    assert result.message_id.startswith("wamid.SANDBOX")
    [request] = await whatsapp_rows(services)
    assert request["text"] is None
    template = TemplateMessage.model_validate(request["template"])
    assert template.name == "sandbox_" + message.replace("/", "_") and template.language == language
    fields = send.catalog.fields
    assert template.parameters and template.parameters[0] == "Ana"
    assert all(p in fields.values() for p in template.parameters)  # filled from the message's values


@pytest.mark.parametrize(("message", "language"), CASES)
async def test_outside_the_window_without_a_template_nothing_is_sent(
    no_templates: Services, message: str, language: Language
) -> None:
    send = catalog_sends(language)[message]
    await lead_wrote(no_templates, f"lead-{language}", timedelta(hours=25))
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(MessagingActivities(no_templates).send, send)
    assert (info.value.type, info.value.non_retryable) == ("OutsideCustomerServiceWindow", True)
    assert f"{message!r} in {language!r}" in info.value.message and "WHATSAPP_TEMPLATES" in info.value.message
    assert await no_templates.providers.outbox.entries("whatsapp") == []
    assert [c for c in no_templates.providers.sandbox.calls if c[0] == "whatsapp"] == []


async def test_a_lead_who_never_wrote_gets_the_template(services: Services) -> None:
    send = catalog_sends("es")["cold_lead_reengagement/24h"]
    await ActivityEnvironment().run(MessagingActivities(services).send, send)  # no record of the lead at all
    [request] = await whatsapp_rows(services)
    assert request["template"] is not None and request["last_inbound_at"] is None


async def test_a_message_sent_in_the_window_is_not_refused_on_a_later_attempt(no_templates: Services) -> None:
    send = catalog_sends("en")["said_later/12h_after"]
    await lead_wrote(no_templates, "lead-en", timedelta(hours=1))
    first = await ActivityEnvironment().run(MessagingActivities(no_templates).send, send)
    await lead_wrote(no_templates, "lead-en", timedelta(days=2))  # as if the retry came a day later
    again = await ActivityEnvironment().run(MessagingActivities(no_templates).send, send)
    assert again == first and len(await whatsapp_rows(no_templates)) == 1


async def test_the_sandbox_refuses_text_outside_the_window_as_whatsapp_does(services: Services) -> None:
    send = catalog_sends("es")["payment/link"].model_copy(
        update={"last_inbound_at": datetime.now(UTC) - timedelta(days=3)}
    )
    with pytest.raises(Exception) as info:
        await services.providers.messaging.send(send)  # straight to the provider: no template chosen
    assert type(info.value).__name__ == "OutsideCustomerServiceWindow"
    assert await whatsapp_rows(services) == []


async def test_a_text_to_no_lead_is_not_held_to_the_window(services: Services) -> None:
    plain = SendMessageInput(to="+5215512345678", text="Tu despliegue terminó", idempotency_key="notification:1")
    await ActivityEnvironment().run(MessagingActivities(services).send, plain)
    [request] = await whatsapp_rows(services)
    assert request["text"] == "Tu despliegue terminó"
