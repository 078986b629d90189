"""CRM activities (HubSpot): ``crm.upsert_contact``, once per idempotency key."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.crm import UpsertContactInput, UpsertContactResult
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services


class CRMActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    @activity.defn(name="crm.upsert_contact")
    async def upsert_contact(self, input: UpsertContactInput) -> UpsertContactResult:
        provider = self._providers.crm
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="upsert_contact",
                key=input.idempotency_key,
                request=input,
                result_type=UpsertContactResult,
                call=lambda: provider.upsert_contact(input),
            )
