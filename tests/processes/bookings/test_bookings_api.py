"""``POST/GET /api/bookings``: 422 on an impossible slot, the workflow id, the inline path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.models import Appointment, Lead
from followthrough.store.outbox import Outbox

LEAD = {"id": "lead-api-1", "phone": "+5215511112222", "name": "Ana", "language": "es"}


def body(start: datetime, minutes: int = 30, **extra: Any) -> dict[str, Any]:
    return {"lead": LEAD, "start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat(), **extra}


@pytest.fixture
async def inline_api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app with USE_TEMPORAL_BOOKING and USE_TEMPORAL_FOLLOWUPS off: no Temporal at all."""
    settings = services.settings.model_copy(update={"use_temporal_booking": False, "use_temporal_followups": False})
    # No Temporal at all (an unreachable address): the inline path must not need it.
    settings = settings.model_copy(update={"temporal_address": "127.0.0.1:9"})
    app = create_app(settings, api_key="k", services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": "Bearer k"}
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("start", "minutes", "field"),
    [
        (datetime(2020, 1, 1, 10, tzinfo=UTC), 30, "start"),
        (datetime.now(UTC) + timedelta(days=2), 0, "end"),
        (datetime.now(UTC) + timedelta(days=2), -30, "end"),
    ],
)
async def test_an_impossible_slot_is_422_naming_the_field(
    inline_api: httpx.AsyncClient, start: datetime, minutes: int, field: str
) -> None:
    response = await inline_api.post("/api/bookings", json=body(start, minutes))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]


async def test_a_naive_instant_is_422(inline_api: httpx.AsyncClient) -> None:
    response = await inline_api.post(
        "/api/bookings", json={"lead": LEAD, "start": "2031-01-01T10:00:00", "end": "2031-01-01T10:30:00"}
    )
    assert response.status_code == 422


async def test_with_the_flag_off_the_saga_runs_inline_and_says_so(
    inline_api: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = await inline_api.post("/api/bookings", json=body(start))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["mode"] == "inline"
    assert answer["workflow_id"] == f"booking-lead-api-1-{start:%Y%m%dT%H%M%SZ}"
    result = answer["result"]
    assert result["ok"] and result["completed"][:4] == ["calendar_booking", "appointment", "lead_stage", "confirmation"]
    assert result["followups"] == [] and "USE_TEMPORAL_FOLLOWUPS is off" in result["error"]
    assert "USE_TEMPORAL_BOOKING is off" in caplog.text
    async with services.database.session() as session:
        appointment = await session.scalar(select(Appointment).where(Appointment.lead_id == "lead-api-1"))
        lead = await session.get(Lead, "lead-api-1")
    assert appointment is not None and appointment.status == "scheduled"
    assert appointment.calendar_booking_id == result["booking_id"]
    assert lead is not None and lead.stage == "demo_scheduled"
    keys = [e.idempotency_key for e in await Outbox(services.database).entries()]
    assert f"booking-confirmation:lead-api-1:{start:%Y%m%dT%H%M%SZ}" in keys


async def test_inline_failure_undoes_the_earlier_steps(inline_api: httpx.AsyncClient, services: Services) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    lead = {**LEAD, "phone": "+5215533334444"}
    # Another lead already has this phone: appointments.create cannot record the lead (UNIQUE phone).
    async with services.database.session() as session:
        session.add(Lead(id="someone-else", phone="+5215533334444"))
    response = await inline_api.post("/api/bookings", json={**body(start), "lead": lead})
    assert response.status_code == 409
    result = response.json()["result"]
    assert result["failed_step"] == "appointment"
    assert result["compensated"] == ["cancel_calendar_booking"]
    ops = [(e.operation, e.idempotency_key) for e in await Outbox(services.database).entries(provider="calcom")]
    ops = [op for op in ops if op[0] in ("create_booking", "cancel_booking")]
    key = f"booking:lead-api-1:{start:%Y%m%dT%H%M%SZ}"
    assert ops == [("create_booking", key), ("cancel_booking", f"{key}:cancel")]


async def test_a_time_zone_outside_the_iana_database_is_422_naming_it(inline_api: httpx.AsyncClient) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    response = await inline_api.post("/api/bookings", json=body(start, timezone="Mars/Olympus"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "timezone"] and "Mars/Olympus" in error["msg"]
