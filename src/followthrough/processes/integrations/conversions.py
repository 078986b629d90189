"""Conversions activities (Meta CAPI): ``conversions.send_event``, once per idempotency key (the
key is also Meta's ``event_id``, which Meta deduplicates on)."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.conversions import SendEventInput, SendEventResult
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services


class ConversionsActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    @activity.defn(name="conversions.send_event")
    async def send_event(self, input: SendEventInput) -> SendEventResult:
        provider = self._providers.conversions
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="send_event",
                key=input.idempotency_key,
                request=input,
                result_type=SendEventResult,
                call=lambda: provider.send_event(input),
            )
