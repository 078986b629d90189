"""The Meta Conversions API client: one event, user data hashed as Meta requires."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from followthrough.providers.contracts.conversions import SendEventInput, normalise_phone
from followthrough.providers.conversions import MetaConversionsClient

BASE = "https://graph.fake"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_normalisation_rules() -> None:
    assert normalise_phone("+52 (155) 1234-5678") == "5215512345678"
    assert normalise_phone("0034 600 111 222") == "34600111222"
    event = SendEventInput(
        event_name="Lead", event_time=datetime.now(UTC), email="  Ana@Example.COM ", idempotency_key="k"
    )
    assert event.user_data() == {"em": [sha("ana@example.com")]}


def test_purchase_needs_value() -> None:
    with pytest.raises(ValueError, match="value and currency"):
        SendEventInput(event_name="Purchase", event_time=datetime.now(UTC), email="a@b.c", idempotency_key="k")


async def test_event_request(http: httpx.AsyncClient) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with respx.mock:
        route = respx.post(f"{BASE}/v21.0/PIXEL9/events").respond(200, json={"events_received": 1, "fbtrace_id": "Ab"})
        result = await MetaConversionsClient(http, pixel_id="PIXEL9", access_token="EAAmeta", base_url=BASE).send_event(
            SendEventInput(
                event_name="Purchase",
                event_time=when,
                email="Ana@Example.com",
                phone="+52 155 1234 5678",
                external_id="lead-1",
                value=4990,
                currency="mxn",
                idempotency_key="capi:lead-1:purchase",
            )
        )
    assert result.events_received == 1
    body = json.loads(route.calls.last.request.content)
    assert body["access_token"] == "EAAmeta"
    assert body["data"] == [
        {
            "event_name": "Purchase",
            "event_time": int(when.timestamp()),
            "event_id": "capi:lead-1:purchase",
            "action_source": "system_generated",
            "user_data": {"em": [sha("ana@example.com")], "ph": [sha("5215512345678")], "external_id": [sha("lead-1")]},
            "custom_data": {"value": 49.9, "currency": "MXN"},
        }
    ]
    assert "ana@example.com" not in route.calls.last.request.content.decode().lower()
