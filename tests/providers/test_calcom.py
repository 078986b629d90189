"""The Cal.com v2 client against a local fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from followthrough.errors import ValidationError
from followthrough.providers.calendar import BOOKINGS_API_VERSION, SLOTS_API_VERSION, CalComClient
from followthrough.providers.contracts.calendar import CancelBookingInput, CreateBookingInput, ListSlotsInput

BASE = "https://cal.fake"
START = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)


def client(http: httpx.AsyncClient, event_type_id: int | None = 42) -> CalComClient:
    return CalComClient(http, api_key="cal_live_x", event_type_id=event_type_id, base_url=BASE)


async def test_create_booking_request(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{BASE}/v2/bookings").respond(
            201,
            json={
                "status": "success",
                "data": {
                    "id": 7,
                    "uid": "bk_1",
                    "start": "2030-03-04T15:00:00.000Z",
                    "end": "2030-03-04T15:30:00.000Z",
                    "status": "accepted",
                    "meetingUrl": "https://cal.video/bk_1",
                },
            },
        )
        booking = await client(http).create_booking(
            CreateBookingInput(
                start=START,
                attendee_name="Ana",
                attendee_email="ana@example.com",
                attendee_time_zone="America/Mexico_City",
                metadata={"lead_id": "lead-1"},
                idempotency_key="booking:lead-1",
            )
        )
    assert (booking.uid, booking.id, booking.status, booking.end) == ("bk_1", 7, "accepted", START.replace(minute=30))
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer cal_live_x"
    assert request.headers["cal-api-version"] == BOOKINGS_API_VERSION
    assert json.loads(request.content) == {
        "start": "2030-03-04T15:00:00.000Z",
        "eventTypeId": 42,
        "attendee": {"name": "Ana", "email": "ana@example.com", "timeZone": "America/Mexico_City", "language": "es"},
        "metadata": {"lead_id": "lead-1"},
    }


async def test_cancel_booking_request(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{BASE}/v2/bookings/bk_1/cancel").respond(
            200, json={"status": "success", "data": {"uid": "bk_1", "status": "cancelled"}}
        )
        result = await client(http).cancel_booking(
            CancelBookingInput(uid="bk_1", reason="saga compensation", idempotency_key="c")
        )
    assert result.status == "cancelled"
    assert json.loads(route.calls.last.request.content) == {"cancellationReason": "saga compensation"}
    assert route.calls.last.request.headers["cal-api-version"] == BOOKINGS_API_VERSION


async def test_list_slots_request_and_parse(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.get(f"{BASE}/v2/slots").respond(
            200,
            json={
                "status": "success",
                "data": {
                    "2030-03-05": [{"start": "2030-03-05T10:00:00.000Z"}],
                    "2030-03-04": [{"start": "2030-03-04T15:00:00.000Z"}, {"start": "2030-03-04T15:30:00.000Z"}],
                },
            },
        )
        result = await client(http).list_slots(ListSlotsInput(start=START, end=START.replace(day=6)))
    assert [s.isoformat() for s in result.slots] == [
        "2030-03-04T15:00:00+00:00",
        "2030-03-04T15:30:00+00:00",
        "2030-03-05T10:00:00+00:00",
    ]
    request = route.calls.last.request
    assert request.headers["cal-api-version"] == SLOTS_API_VERSION
    assert request.url.params["eventTypeId"] == "42"
    assert request.url.params["start"] == "2030-03-04T15:00:00.000Z"


async def test_no_event_type_is_a_validation_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValidationError, match="CALCOM_EVENT_TYPE_ID"):
        await client(http, event_type_id=None).list_slots(ListSlotsInput(start=START, end=START))
