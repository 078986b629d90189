"""The capability inputs and results survive Temporal's pydantic data converter unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from followthrough.providers.contracts.bots import RegisterBotInput
from followthrough.providers.contracts.calendar import Booking, CreateBookingInput
from followthrough.providers.contracts.conversions import SendEventInput
from followthrough.providers.contracts.linkedin import SendInvitationInput
from followthrough.providers.contracts.messaging import SendMessageInput, TemplateMessage
from followthrough.providers.contracts.payments import CheckoutSession, CreateCheckoutInput
from followthrough.temporal import data_converter

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)

MODELS: list[BaseModel] = [
    SendMessageInput(to="+5215512345678", template=TemplateMessage(name="t", parameters=["a"]), idempotency_key="k"),
    CreateBookingInput(
        start=NOW, attendee_name="A", attendee_email="a@b.c", metadata={"lead_id": "l"}, idempotency_key="k"
    ),
    Booking(uid="u", start=NOW, end=NOW, status="accepted"),
    CreateCheckoutInput(
        amount=1, currency="usd", description="d", metadata={"workflow_id": "w", "lead_id": "l"}, idempotency_key="k"
    ),
    CheckoutSession(session_id="cs", url=None, status="open", payment_status="unpaid", expires_at=NOW),
    SendEventInput(event_name="Lead", event_time=NOW, email="a@b.c", idempotency_key="k"),
    SendInvitationInput(account_id="a", identifier="jane", note="hi", idempotency_key="k"),
    RegisterBotInput(platform="telegram", token="1:x", idempotency_key="k"),
]


async def test_models_round_trip_through_the_data_converter() -> None:
    converter = data_converter()
    for model in MODELS:
        payloads = await converter.encode([model])
        [decoded] = await converter.decode(payloads, [type(model)])
        assert decoded == model
