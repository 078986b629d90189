"""Every real client maps 400/401/404/429/500/timeout to the same error classes.

One table, one fake route per client (the first request each operation makes), one status at a
time. OpenAI's SDK runs on ``httpx2`` and is covered the same way in ``test_openai.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.bots import BotPlatforms, DiscordBots, TelegramBots
from followthrough.providers.calendar import CalComClient
from followthrough.providers.contracts.bots import RegisterBotInput
from followthrough.providers.contracts.calendar import CreateBookingInput
from followthrough.providers.contracts.conversions import SendEventInput
from followthrough.providers.contracts.crm import UpsertContactInput
from followthrough.providers.contracts.linkedin import SendInvitationInput
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.providers.contracts.payments import CreateCheckoutInput
from followthrough.providers.conversions import MetaConversionsClient
from followthrough.providers.crm import HubSpotClient
from followthrough.providers.linkedin import UnipileClient
from followthrough.providers.messaging import WhatsAppClient
from followthrough.providers.payments import StripePayments


@dataclass
class Case:
    name: str
    method: str
    url: str
    call: Callable[[httpx.AsyncClient], Awaitable[Any]]


CASES = [
    Case(
        "whatsapp",
        "POST",
        "https://wa.fake/v21.0/1/messages",
        lambda h: WhatsAppClient(h, token="t", phone_number_id="1", base_url="https://wa.fake").send(
            SendMessageInput(to="+5215512345678", text="hi", idempotency_key="k")
        ),
    ),
    Case(
        "calcom",
        "POST",
        "https://cal.fake/v2/bookings",
        lambda h: CalComClient(h, api_key="k", event_type_id=1, base_url="https://cal.fake").create_booking(
            CreateBookingInput(
                start=datetime(2030, 1, 1, tzinfo=UTC), attendee_name="A", attendee_email="a@b.c", idempotency_key="k"
            )
        ),
    ),
    Case(
        "stripe",
        "POST",
        "http://stripe.fake/v1/checkout/sessions",
        lambda h: StripePayments(
            "sk_test", success_url="s", cancel_url="c", base_url="http://stripe.fake"
        ).create_checkout(
            CreateCheckoutInput(
                amount=100,
                currency="usd",
                description="d",
                metadata={"workflow_id": "w", "lead_id": "l"},
                idempotency_key="k",
            )
        ),
    ),
    Case(
        "hubspot",
        "POST",
        "https://hs.fake/crm/v3/objects/contacts/search",
        lambda h: HubSpotClient(h, token="t", base_url="https://hs.fake").upsert_contact(
            UpsertContactInput(email="a@b.c", idempotency_key="k")
        ),
    ),
    Case(
        "meta",
        "POST",
        "https://graph.fake/v21.0/P/events",
        lambda h: MetaConversionsClient(h, pixel_id="P", access_token="t", base_url="https://graph.fake").send_event(
            SendEventInput(event_name="Lead", event_time=datetime.now(UTC), email="a@b.c", idempotency_key="k")
        ),
    ),
    Case(
        "unipile",
        "GET",
        "https://uni.fake/api/v1/users/jane",
        lambda h: UnipileClient(h, dsn="https://uni.fake", api_key="k").send_invitation(
            SendInvitationInput(account_id="a", identifier="jane", idempotency_key="k")
        ),
    ),
    Case(
        "discord",
        "GET",
        "https://discord.fake/users/@me",
        lambda h: BotPlatforms({"discord": DiscordBots(h, base_url="https://discord.fake")}).register(
            RegisterBotInput(platform="discord", token="t", idempotency_key="k")
        ),
    ),
    Case(
        "telegram",
        "POST",
        "https://tg.fake/bott/getMe",
        lambda h: BotPlatforms({"telegram": TelegramBots(h, base_url="https://tg.fake")}).register(
            RegisterBotInput(platform="telegram", token="t", idempotency_key="k")
        ),
    ),
]

OUTCOMES: list[tuple[int | str, type[Exception]]] = [
    (400, ValidationError),
    (401, AuthenticationError),
    (404, ValidationError),
    (429, RetryableError),
    (500, RetryableError),
    ("timeout", RetryableError),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize(("outcome", "expected"), OUTCOMES, ids=[str(o) for o, _ in OUTCOMES])
async def test_outcome_maps_to_error_class(
    http: httpx.AsyncClient, case: Case, outcome: int | str, expected: type[Exception]
) -> None:
    with respx.mock:
        route = respx.route(method=case.method, url=case.url)
        if outcome == "timeout":
            route.mock(side_effect=httpx.ReadTimeout("too slow"))
        else:
            body = {"error": {"message": f"fake {outcome}"}, "ok": False, "error_code": outcome, "description": "x"}
            route.respond(int(outcome), json=body, headers={"Retry-After": "2"})
        with pytest.raises(expected) as info:
            await case.call(http)
        assert route.called
    assert type(info.value) is expected
    if outcome == 429:
        assert info.value.retry_after == 2.0  # type: ignore[attr-defined]
