"""``GET /api/<process>``: every business process lists its executions — filtered by lead and
status, paginated with the generic list's tokens, newest first, and narrowed to the key's
organization. On the dev server (visibility); no worker is needed, started executions run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys
from tests.api.test_closed_executions import _bodies, _lead
from tests.conftest import API_KEY

pytestmark = pytest.mark.devserver

#: list route → the route that starts what it lists
LISTS = {
    "/api/followups": "/api/followups",
    "/api/bookings": "/api/bookings",
    "/api/payments": "/api/payments",
    "/api/integrations/sync": "/api/integrations/sync",
    "/api/content": "/api/content",
    "/api/deployments": "/api/deployments",
    "/api/temporal/notification": "/api/temporal/notification/start",
    "/api/onboarding": "/api/onboarding",
}


@pytest.fixture
async def clients(dev_client: Client, services: Services) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    app = create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)
    made: list[httpx.AsyncClient] = []

    def make(key: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {key}"}
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def _org_key(services: Services, organization: str) -> str:
    return (await ApiKeys(services.database).create(organization, ["read", "write", "admin"])).key


async def eventually(check: Callable[[], Awaitable[Any]], what: str, tries: int = 100) -> Any:
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def _ids(client: httpx.AsyncClient, path: str, **params: Any) -> list[str]:
    resp = await client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return [e["workflow_id"] for e in resp.json()["executions"]]


@pytest.mark.parametrize("path", list(LISTS))
async def test_each_list_route_shows_only_the_callers_organization_and_filters_by_status(
    clients: Callable[[str], httpx.AsyncClient], services: Services, path: str
) -> None:
    a = clients(await _org_key(services, "org-list-a"))
    b = clients(await _org_key(services, "org-list-b"))
    started = await a.post(LISTS[path], json=_bodies()[LISTS[path]])
    assert started.status_code == 202, started.text
    theirs = await b.post(LISTS[path], json=_bodies()[LISTS[path]])
    assert theirs.status_code == 202, theirs.text
    mine, other = started.json()["workflow_id"], theirs.json()["workflow_id"]

    async def listed() -> list[str] | None:
        ids = await _ids(a, path)
        return ids if mine in ids else None

    assert other not in await eventually(listed, f"{mine} listed by {path}")
    assert mine in await _ids(a, path, status="RUNNING")
    assert mine not in await _ids(a, path, status="COMPLETED")
    assert other in await eventually(lambda: _ids(clients(API_KEY), path), "the operator sees every organization")


async def test_a_list_filters_by_lead_paginates_and_shows_the_newest_first(api: httpx.AsyncClient) -> None:
    lead = _lead()
    started = []
    for n in range(3):
        body = {"lead": lead, "reference": f"r{n}", "amount": 100, "currency": "mxn", "description": "plan"}
        resp = await api.post("/api/payments", json=body)
        assert resp.status_code == 202, resp.text
        started.append(resp.json()["workflow_id"])
    other = {"lead": _lead(), "reference": "r0", "amount": 100, "currency": "mxn", "description": "plan"}
    assert (await api.post("/api/payments", json=other)).status_code == 202

    async def all_three() -> list[str] | None:
        ids = await _ids(api, "/api/payments", lead_id=lead["id"])
        return ids if len(ids) == 3 else None

    assert await eventually(all_three, "the lead's three payments") == started[::-1]
    first = (await api.get("/api/payments", params={"lead_id": lead["id"], "page_size": 2})).json()
    assert [e["workflow_id"] for e in first["executions"]] == started[:0:-1]
    assert first["next_page_token"]
    params = {"lead_id": lead["id"], "page_size": 2, "page_token": first["next_page_token"]}
    second = (await api.get("/api/payments", params=params)).json()
    assert [e["workflow_id"] for e in second["executions"]] == started[:1] and second["next_page_token"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lead_id": 'x" OR WorkflowId != "'}, "lead_id"),
        ({"status": "Sleeping"}, "status"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
async def test_a_filter_outside_its_charset_is_422_naming_it(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    resp = await api.get("/api/followups", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["query", field]


def test_the_list_helper_builds_one_query_from_the_filters() -> None:
    from followthrough.api.listing import visibility_query

    assert visibility_query("PaymentWorkflow", lead_id="lead-1", status="completed") == (
        'WorkflowType = "PaymentWorkflow" AND LeadId = "lead-1" AND ExecutionStatus = "Completed"'
    )
    assert visibility_query("X") == 'WorkflowType = "X"'
