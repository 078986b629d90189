"""Calendar: Cal.com API v2.

* :class:`CalComClient` — ``POST /v2/bookings``, ``POST /v2/bookings/{uid}/cancel`` and
  ``GET /v2/slots``, with ``Authorization: Bearer`` and the ``cal-api-version`` header each
  endpoint is versioned by. Cal.com takes no idempotency key: the outbox covers it.
* :class:`SandboxCalendar` — books every slot it is asked for (30 minutes), remembers bookings
  so cancelling an unknown one fails like Cal.com's 404, offers weekday half-hours 09–17 UTC.
* :func:`verify_calcom_signature` — ``X-Cal-Signature-256`` (hex HMAC-SHA256 of the raw body),
  stale when the payload's ``createdAt`` is older than the tolerance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from followthrough.errors import ValidationError
from followthrough.providers.contracts.calendar import (
    Booking,
    CancelBookingInput,
    CancelBookingResult,
    CreateBookingInput,
    ListSlotsInput,
    SlotsResult,
)
from followthrough.providers.http import error_for_status, send_json
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.signatures import InvalidSignature, StaleSignature, hmac_sha256_hex, same

BOOKINGS_API_VERSION = "2024-08-13"
SLOTS_API_VERSION = "2024-09-04"


class CalendarProvider(Protocol):
    name: str

    async def create_booking(self, input: CreateBookingInput) -> Booking: ...

    async def cancel_booking(self, input: CancelBookingInput) -> CancelBookingResult: ...

    async def list_slots(self, input: ListSlotsInput) -> SlotsResult: ...


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _booking(data: dict[str, Any]) -> Booking:
    return Booking(
        uid=str(data["uid"]),
        id=data.get("id"),
        start=data["start"],
        end=data["end"],
        status=str(data.get("status", "accepted")),
        meeting_url=data.get("meetingUrl") or data.get("location"),
    )


class CalComClient:
    name = "calcom"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        event_type_id: int | None = None,
        base_url: str = "https://api.cal.com",
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._event_type_id = event_type_id

    def _event_type(self, given: int | None) -> int:
        event_type = given or self._event_type_id
        if event_type is None:
            raise ValidationError(
                "no Cal.com event type: set CALCOM_EVENT_TYPE_ID or give event_type_id", provider="calcom"
            )
        return event_type

    async def create_booking(self, input: CreateBookingInput) -> Booking:
        attendee: dict[str, Any] = {
            "name": input.attendee_name,
            "email": input.attendee_email,
            "timeZone": input.attendee_time_zone,
            "language": input.attendee_language,
        }
        if input.attendee_phone:
            attendee["phoneNumber"] = input.attendee_phone
        body = {
            "start": _iso(input.start),
            "eventTypeId": self._event_type(input.event_type_id),
            "attendee": attendee,
            "metadata": input.metadata,
        }
        data = await send_json(
            self._http,
            self.name,
            "POST",
            f"{self._base}/v2/bookings",
            json=body,
            headers={**self._auth, "cal-api-version": BOOKINGS_API_VERSION},
        )
        booking = data.get("data")
        if isinstance(booking, list):  # a recurring event type answers a list
            booking = booking[0] if booking else None
        if not isinstance(booking, dict) or "uid" not in booking:
            # Not the body itself: it may echo the attendee's email and phone.
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValidationError(f"calcom answered no booking (fields: {keys})", provider=self.name)
        return _booking(booking)

    async def cancel_booking(self, input: CancelBookingInput) -> CancelBookingResult:
        data = await send_json(
            self._http,
            self.name,
            "POST",
            f"{self._base}/v2/bookings/{input.uid}/cancel",
            json={"cancellationReason": input.reason},
            headers={**self._auth, "cal-api-version": BOOKINGS_API_VERSION},
        )
        booking = data.get("data") if isinstance(data.get("data"), dict) else {}
        return CancelBookingResult(uid=input.uid, status=str(booking.get("status", "cancelled")))

    async def list_slots(self, input: ListSlotsInput) -> SlotsResult:
        data = await send_json(
            self._http,
            self.name,
            "GET",
            f"{self._base}/v2/slots",
            params={
                "eventTypeId": self._event_type(input.event_type_id),
                "start": _iso(input.start),
                "end": _iso(input.end),
                "timeZone": input.time_zone,
            },
            headers={**self._auth, "cal-api-version": SLOTS_API_VERSION},
        )
        days = data.get("data") or {}
        slots = [slot["start"] for day in sorted(days) for slot in days[day] if isinstance(slot, dict)]
        return SlotsResult(slots=slots)

    async def health(self) -> str:
        data = await send_json(self._http, self.name, "GET", f"{self._base}/v2/me", headers=self._auth)
        return f"calcom user {data.get('data', {}).get('username', '?')}"


class SandboxCalendar:
    name = "calcom"
    duration = timedelta(minutes=30)

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def create_booking(self, input: CreateBookingInput) -> Booking:
        async def respond() -> Booking:
            uid = stable_id("calcom", input.idempotency_key, length=22)
            booking = Booking(
                uid=uid,
                id=int(uid[:8], 16),
                start=input.start,
                end=input.start + self.duration,
                status="accepted",
                meeting_url=f"https://app.cal.com/video/{uid}",
            )
            await self._sandbox.put_state(self.name, "booking", uid, booking.model_dump(mode="json"))
            return booking

        return await self._sandbox.side_effect(self.name, "create_booking", input.idempotency_key, input, respond)

    async def cancel_booking(self, input: CancelBookingInput) -> CancelBookingResult:
        async def respond() -> CancelBookingResult:
            if await self._sandbox.get_state(self.name, "booking", input.uid) is None:
                raise error_for_status(self.name, 404, f"Booking with uid={input.uid} was not found")
            await self._sandbox.put_state(self.name, "cancelled", input.uid, {"reason": input.reason})
            return CancelBookingResult(uid=input.uid, status="cancelled")

        return await self._sandbox.side_effect(self.name, "cancel_booking", input.idempotency_key, input, respond)

    async def list_slots(self, input: ListSlotsInput) -> SlotsResult:
        self._sandbox.enter(self.name, "slots", None, input.model_dump(mode="json"))
        start = input.start.astimezone(UTC)
        cursor = start.replace(minute=0 if start.minute == 0 else 30, second=0, microsecond=0)
        if cursor < start:
            cursor += timedelta(minutes=30)
        slots: list[datetime] = []
        while cursor + self.duration <= input.end and len(slots) < 500:
            if cursor.weekday() < 5 and 9 <= cursor.hour < 17:
                slots.append(cursor)
            cursor += timedelta(minutes=30)
        return SlotsResult(slots=slots)


def verify_calcom_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: float = 300.0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check ``X-Cal-Signature-256`` and return the parsed payload.

    Stale when the payload's ``createdAt`` is more than ``tolerance`` seconds away from now.
    Cal.com signs only the body, so a replay is indistinguishable from its redelivery: the
    route deduplicates by the booking event instead. Raises :class:`InvalidSignature` /
    :class:`StaleSignature`.
    """
    if not header:
        raise InvalidSignature("missing X-Cal-Signature-256")
    digest = header.removeprefix("sha256=")
    if not same(hmac_sha256_hex(secret, body), digest):
        raise InvalidSignature("X-Cal-Signature-256 does not match the body")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidSignature("the body is not JSON") from exc
    created = payload.get("createdAt") if isinstance(payload, dict) else None
    if created:
        try:
            created_at = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidSignature(f"createdAt {created!r} is not an ISO instant") from exc
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        age = ((now or datetime.now(UTC)) - created_at).total_seconds()
        if abs(age) > tolerance:
            raise StaleSignature(f"delivery created {age:.0f}s ago (tolerance {tolerance:.0f}s)")
    return payload if isinstance(payload, dict) else {"payload": payload}
