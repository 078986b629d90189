"""Calendar activities (Cal.com): create and cancel a booking (once per key), list free slots."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.calendar import (
    Booking,
    CancelBookingInput,
    CancelBookingResult,
    CreateBookingInput,
    ListSlotsInput,
    SlotsResult,
)
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services


class CalendarActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    @activity.defn(name="calendar.create_booking")
    async def create_booking(self, input: CreateBookingInput) -> Booking:
        provider = self._providers.calendar
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="create_booking",
                key=input.idempotency_key,
                request=input,
                result_type=Booking,
                call=lambda: provider.create_booking(input),
            )

    @activity.defn(name="calendar.cancel_booking")
    async def cancel_booking(self, input: CancelBookingInput) -> CancelBookingResult:
        provider = self._providers.calendar
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="cancel_booking",
                key=input.idempotency_key,
                request=input,
                result_type=CancelBookingResult,
                call=lambda: provider.cancel_booking(input),
            )

    @activity.defn(name="calendar.list_slots")
    async def list_slots(self, input: ListSlotsInput) -> SlotsResult:
        with provider_call():
            return await self._providers.calendar.list_slots(input)
