"""CRM: HubSpot CRM v3 contacts.

* :class:`HubSpotClient` — search by email (else phone) with
  ``POST /crm/v3/objects/contacts/search``, then ``PATCH /crm/v3/objects/contacts/{id}`` or
  ``POST /crm/v3/objects/contacts``; Bearer private-app token. HubSpot takes no idempotency
  key: the outbox covers it, and a create that races another (409) is retried as an update.
* :class:`SandboxCRM` — one stable contact id per email/phone; "created" the first time.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from followthrough.errors import ValidationError
from followthrough.providers.contracts.crm import UpsertContactInput, UpsertContactResult
from followthrough.providers.http import send_json
from followthrough.providers.sandbox import Sandbox, stable_id


class CRMProvider(Protocol):
    name: str

    async def upsert_contact(self, input: UpsertContactInput) -> UpsertContactResult: ...


class HubSpotClient:
    name = "hubspot"

    def __init__(self, http: httpx.AsyncClient, *, token: str, base_url: str = "https://api.hubapi.com") -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/crm/v3/objects/contacts"
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _find(self, input: UpsertContactInput) -> str | None:
        for prop, value in (("email", input.email), ("phone", input.phone)):
            if not value:
                continue
            data = await send_json(
                self._http,
                self.name,
                "POST",
                f"{self._base}/search",
                json={
                    "filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}],
                    "properties": ["email", "phone", "lifecyclestage"],
                    "limit": 1,
                },
                headers=self._headers,
            )
            results = data.get("results") or []
            if results:
                return str(results[0]["id"])
        return None

    async def _update(self, contact_id: str, properties: dict[str, str]) -> None:
        await send_json(
            self._http,
            self.name,
            "PATCH",
            f"{self._base}/{contact_id}",
            json={"properties": properties},
            headers=self._headers,
        )

    async def upsert_contact(self, input: UpsertContactInput) -> UpsertContactResult:
        properties = input.hubspot_properties()
        contact_id = await self._find(input)
        if contact_id is not None:
            await self._update(contact_id, properties)
            return UpsertContactResult(contact_id=contact_id, created=False)
        try:
            data: dict[str, Any] = await send_json(
                self._http, self.name, "POST", self._base, json={"properties": properties}, headers=self._headers
            )
        except ValidationError as exc:
            if exc.status != 409:
                raise
            # Created meanwhile (HubSpot answers 409 "Contact already exists. Existing ID: …").
            contact_id = await self._find(input)
            if contact_id is None:
                raise
            await self._update(contact_id, properties)
            return UpsertContactResult(contact_id=contact_id, created=False)
        return UpsertContactResult(contact_id=str(data["id"]), created=True)

    async def health(self) -> str:
        await send_json(self._http, self.name, "GET", self._base, params={"limit": 1}, headers=self._headers)
        return "hubspot contacts readable"


class SandboxCRM:
    name = "hubspot"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def upsert_contact(self, input: UpsertContactInput) -> UpsertContactResult:
        async def respond() -> UpsertContactResult:
            identity = (input.email or "").strip().lower() or (input.phone or "")
            contact_id = str(int(stable_id("hubspot", identity, length=10), 16))
            known = await self._sandbox.get_state(self.name, "contact", contact_id)
            await self._sandbox.put_state(self.name, "contact", contact_id, {"identity": identity})
            return UpsertContactResult(contact_id=contact_id, created=known is None)

        return await self._sandbox.side_effect(self.name, "upsert_contact", input.idempotency_key, input, respond)
