"""The HubSpot CRM v3 client against a local fake: search, then update or create."""

from __future__ import annotations

import json

import httpx
import respx

from followthrough.providers.contracts.crm import UpsertContactInput
from followthrough.providers.crm import HubSpotClient

BASE = "https://hubspot.fake"
CONTACTS = f"{BASE}/crm/v3/objects/contacts"


def client(http: httpx.AsyncClient) -> HubSpotClient:
    return HubSpotClient(http, token="pat-na1-x", base_url=BASE)


def contact() -> UpsertContactInput:
    return UpsertContactInput(
        email="ana@example.com", first_name="Ana", lifecycle_stage="salesqualifiedlead", idempotency_key="crm:lead-1"
    )


async def test_existing_contact_is_updated(http: httpx.AsyncClient) -> None:
    with respx.mock:
        search = respx.post(f"{CONTACTS}/search").respond(200, json={"total": 1, "results": [{"id": "901"}]})
        update = respx.patch(f"{CONTACTS}/901").respond(200, json={"id": "901"})
        result = await client(http).upsert_contact(contact())
    assert (result.contact_id, result.created) == ("901", False)
    assert search.calls.last.request.headers["Authorization"] == "Bearer pat-na1-x"
    assert json.loads(search.calls.last.request.content)["filterGroups"] == [
        {"filters": [{"propertyName": "email", "operator": "EQ", "value": "ana@example.com"}]}
    ]
    assert json.loads(update.calls.last.request.content) == {
        "properties": {"email": "ana@example.com", "firstname": "Ana", "lifecyclestage": "salesqualifiedlead"}
    }


async def test_missing_contact_is_created(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.post(f"{CONTACTS}/search").respond(200, json={"total": 0, "results": []})
        create = respx.post(CONTACTS).respond(201, json={"id": "902"})
        result = await client(http).upsert_contact(contact())
    assert (result.contact_id, result.created) == ("902", True)
    assert json.loads(create.calls.last.request.content)["properties"]["lifecyclestage"] == "salesqualifiedlead"


async def test_create_race_409_becomes_update(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.post(f"{CONTACTS}/search").mock(
            side_effect=[
                httpx.Response(200, json={"results": []}),
                httpx.Response(200, json={"results": [{"id": "9"}]}),
            ]
        )
        respx.post(CONTACTS).respond(409, json={"message": "Contact already exists. Existing ID: 9"})
        update = respx.patch(f"{CONTACTS}/9").respond(200, json={"id": "9"})
        result = await client(http).upsert_contact(contact())
    assert (result.contact_id, result.created) == ("9", False)
    assert update.called
