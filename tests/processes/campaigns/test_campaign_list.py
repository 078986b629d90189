"""``GET /api/campaigns``: the caller's campaigns from the store, newest first, paginated."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys, Campaigns, SenderAccounts
from tests.conftest import API_KEY

pytestmark = pytest.mark.devserver

GRAPH = {
    "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "visit", "target": "done"}],
}


def _client(app: Any, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {key}"}
    )


async def test_each_organization_lists_its_own_campaigns_newest_first_page_by_page(
    dev_client: Client, services: Services
) -> None:
    app = create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)
    orgs = [f"org-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    keys = {org: (await ApiKeys(services.database).create(org, ["read", "write"])).key for org in orgs}
    made: dict[str, list[str]] = {org: [] for org in orgs}
    for org in orgs:
        account = await SenderAccounts(services.database).create(organization_id=org, display_name=org)
        async with _client(app, keys[org]) as http:
            for n in range(3):
                body = {"name": f"{org} {n}", "organizationId": org, "senderAccountId": account.id, "graph": GRAPH}
                created = await http.post("/api/campaigns", json=body)
                assert created.status_code == 201, created.text
                made[org].append(created.json()["campaign_id"])
    await Campaigns(services.database).set_status(made[orgs[0]][1], "paused")

    async with _client(app, keys[orgs[0]]) as http:
        seen, token = [], None
        while True:
            page = await http.get("/api/campaigns", params={"page_size": 2, **({"page_token": token} if token else {})})
            assert page.status_code == 200, page.text
            seen += [c["campaignId"] for c in page.json()["campaigns"]]
            token = page.json()["next_page_token"]
            if token is None:
                break
        assert seen == list(reversed(made[orgs[0]]))  # only its own, newest first, each once
        paused = (await http.get("/api/campaigns", params={"status": "paused"})).json()["campaigns"]
        assert [c["campaignId"] for c in paused] == [made[orgs[0]][1]]
        other = await http.get("/api/campaigns", params={"organizationId": orgs[1]})
        assert other.status_code == 403 and orgs[1] in other.text
        bad = await http.get("/api/campaigns", params={"page_token": "not-a-token"})
        assert bad.status_code == 422

    async with _client(app, API_KEY) as operator:
        listed = (await operator.get("/api/campaigns", params={"organizationId": orgs[1], "page_size": 10})).json()
        assert [c["campaignId"] for c in listed["campaigns"]] == list(reversed(made[orgs[1]]))
