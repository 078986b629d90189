"""The LLM activity: ``llm.complete``, for every process that has a text written (content's
drafts, the integration sync's memory summary). With an idempotency key the answer is recorded
in the outbox, so a retried or repeated step gets the same text without a second (paid) call.
Heartbeats while the model thinks, so a stuck server is noticed by the heartbeat timeout."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import heartbeating, provider_call
from followthrough.providers.contracts.llm import CompleteInput, CompleteResult
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services


class LLMActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    @activity.defn(name="llm.complete")
    async def complete(self, input: CompleteInput) -> CompleteResult:
        provider = self._providers.llm
        async with heartbeating():
            with provider_call():
                if input.idempotency_key is None:
                    return await provider.complete(input)
                return await idempotent(
                    self._providers.outbox,
                    provider=provider.name,
                    operation="complete",
                    key=input.idempotency_key,
                    request=input,
                    result_type=CompleteResult,
                    call=lambda: provider.complete(input),
                )
