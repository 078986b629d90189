"""Lead ids a list names are global: one already used (by this list or another campaign's) is a
422 naming it, never a 500, and nothing half-made is left behind."""

from __future__ import annotations

import uuid

import httpx
import pytest

from followthrough.services import Services
from followthrough.store.repositories import Campaigns, SenderAccounts

pytestmark = pytest.mark.devserver

GRAPH = {
    "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "visit", "target": "done"}],
}


async def test_a_lead_id_already_in_use_is_422_and_creates_nothing(api: httpx.AsyncClient, services: Services) -> None:
    account = await SenderAccounts(services.database).create(organization_id="org-ids", display_name="A")
    lead_id = f"lead-{uuid.uuid4().hex[:8]}"

    def body(*leads: dict[str, str]) -> dict[str, object]:
        return {
            "name": "ids",
            "organizationId": "org-ids",
            "senderAccountId": account.id,
            "graph": GRAPH,
            "leads": leads,
        }

    first = await api.post("/api/campaigns", json=body({"id": lead_id, "linkedin_id": "ACo1"}))
    assert first.status_code == 201, first.text
    before = len(await Campaigns(services.database).newest(organization="org-ids", limit=100))

    again = await api.post("/api/campaigns", json=body({"id": lead_id, "linkedin_id": "ACo2"}))
    assert again.status_code == 422, again.text
    assert again.json()["detail"][0]["loc"] == ["leads", "id"] and lead_id in again.json()["detail"][0]["msg"]
    twice = await api.post(
        "/api/campaigns", json=body({"id": "twin-1", "linkedin_id": "ACo3"}, {"id": "twin-1", "linkedin_id": "ACo4"})
    )
    assert twice.status_code == 422 and "twin-1" in twice.text
    assert len(await Campaigns(services.database).newest(organization="org-ids", limit=100)) == before

    added = await api.post(
        f"/api/campaigns/{first.json()['campaign_id']}/leads", json=[{"id": lead_id, "linkedin_id": "ACo5"}]
    )
    assert added.status_code == 422 and lead_id in added.text
