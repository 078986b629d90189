"""The trust boundary, route by route: every route of the OpenAPI document is discovered from the
app, so a new route is covered (or this file fails until it is classified).

* without a key → 401; with a read-only key on a route that changes something → 403;
* with another organization's key, a resource of organization A answers exactly as a resource
  that does not exist (same status, same body but for the id) — while A's own key gets
  something else (the control that proves the resource was there);
* a body naming another organization → 403 naming both;
* lists are narrowed to the caller's organization whatever the query says;
* a revoked key stops working at the next request in every API process.

The whole module runs once per store back-end (SQLite, PostgreSQL, MariaDB): the keys, the
campaigns and the sender accounts live in that store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.store.migrate import upgrade
from followthrough.store.repositories import ApiKeys, SenderAccounts
from followthrough.temporal.tenancy import UnsafeQuery, scoped_query
from tests.backends import BACKENDS, scratch_database
from tests.conftest import API_KEY

pytestmark = pytest.mark.devserver

ORG_A, ORG_B = "org-a", "org-b"
GRAPH = {
    "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "visit", "target": "done"}],
}
LEADS = [{"linkedin_url": "https://www.linkedin.com/in/tenancy-test"}]


def keyed_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route behind a key: the operations of the app's OpenAPI document
    that declare the bearer scheme (what ``require_key`` adds to every non-public router)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if {"HTTPBearer": []} in operation.get("security", []):
                found.append((method.upper(), path))
    return sorted(found)


# What each route that names a resource needs: how its path is filled, and a valid body.
# ``{org}`` in a body stands for the caller's own organization.
RESOURCE_ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/workflows/{workflow_id}"): {},
    ("GET", "/api/workflows/{workflow_id}/result"): {},
    ("POST", "/api/workflows/{workflow_id}/signal/{name}"): {"name": "lead_replied", "json": {}},
    ("GET", "/api/workflows/{workflow_id}/query/{name}"): {"name": "status"},
    ("POST", "/api/workflows/{workflow_id}/update/{name}"): {"name": "review", "json": {}},
    ("POST", "/api/workflows/{workflow_id}/cancel"): {},
    ("POST", "/api/workflows/{workflow_id}/terminate"): {},
    ("GET", "/api/followups/{workflow_id}"): {},
    ("GET", "/api/bookings/{workflow_id}"): {},
    ("GET", "/api/payments/{workflow_id}"): {},
    ("GET", "/api/integrations/sync/{workflow_id}"): {},
    ("GET", "/api/temporal/workflow/{workflow_id}/status"): {},
    ("POST", "/api/temporal/workflow/{workflow_id}/cancel"): {},
    ("GET", "/api/deployments/{id}"): {},
    ("POST", "/api/deployments/{id}/pause"): {},
    ("POST", "/api/deployments/{id}/resume"): {},
    ("POST", "/api/deployments/{id}/cancel"): {},
    ("GET", "/api/content/{content_id}"): {},
    ("POST", "/api/content/{content_id}/review"): {"json": {"approved": True, "reviewer": "ana"}},
    ("POST", "/api/campaigns/{campaign_id}/leads"): {"json": LEADS},
    ("POST", "/api/campaigns/{campaign_id}/start"): {"json": {"organizationId": "{org}"}},
    ("POST", "/api/campaigns/{campaign_id}/pause"): {},
    ("POST", "/api/campaigns/{campaign_id}/resume"): {},
    ("POST", "/api/campaigns/{campaign_id}/stop"): {},
    ("GET", "/api/campaigns/{campaign_id}/status"): {},
    ("POST", "/api/campaigns/start"): {"json": {"campaignId": "{campaign_id}", "organizationId": "{org}"}},
    ("POST", "/api/campaigns/pause"): {"json": {"campaignId": "{campaign_id}"}},
    ("POST", "/api/campaigns/resume"): {"json": {"campaignId": "{campaign_id}"}},
    ("POST", "/api/campaigns/stop"): {"json": {"campaignId": "{campaign_id}"}},
    ("GET", "/api/campaigns/status"): {"params": {"campaignId": "{campaign_id}"}},
    ("GET", "/api/sender-accounts/{sender_account_id}"): {},
    ("PATCH", "/api/sender-accounts/{sender_account_id}"): {"json": {"timezone": "UTC"}},
    ("DELETE", "/api/sender-accounts/{sender_account_id}"): {},
}
# Routes that name no existing resource: starts (the caller's organization becomes the owner),
# lists (narrowed, tested below) and the operator's metrics.
NO_RESOURCE_ROUTES = {
    ("POST", "/api/bookings"),
    ("POST", "/api/campaigns"),
    ("POST", "/api/sender-accounts"),
    ("GET", "/api/sender-accounts"),
    ("POST", "/api/content"),
    ("POST", "/api/deployments"),
    ("POST", "/api/followups"),
    ("POST", "/api/integrations/sync"),
    ("POST", "/api/onboarding"),
    ("POST", "/api/payments"),
    ("POST", "/api/temporal/notification/start"),
    ("POST", "/api/temporal/onboarding/execute"),
    ("POST", "/api/users"),
    ("POST", "/api/workflows/{workflow_type}/execute"),
    ("POST", "/api/workflows/{workflow_type}/start"),
    ("GET", "/api/workflows"),
    ("GET", "/api/campaigns"),
    ("GET", "/metrics"),
    # the business list routes: narrowed by organization like the generic list
    ("GET", "/api/bookings"),
    ("GET", "/api/content"),
    ("GET", "/api/deployments"),
    ("GET", "/api/followups"),
    ("GET", "/api/integrations/sync"),
    ("GET", "/api/onboarding"),
    ("GET", "/api/payments"),
    ("GET", "/api/temporal/notification"),
}


@pytest.fixture(scope="module", params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    backend = request.param
    async with scratch_database(backend, tmp_path_factory.mktemp(f"tenancy-{backend}"), request.config) as url:
        await upgrade(url)
        yield url


@pytest.fixture
async def services(make_settings: Callable[..., Settings], store_url: str) -> AsyncIterator[Services]:
    """The app's services on this module's back-end (the conftest's are on SQLite)."""
    svc = await Services.open(make_settings(database_url=store_url))
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def app(dev_client: Client, services: Services) -> FastAPI:
    return create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)


@pytest.fixture
async def keys(services: Services) -> dict[str, str]:
    repo = ApiKeys(services.database)
    every = ["read", "write", "admin"]
    return {
        "a": (await repo.create(ORG_A, every)).key,
        "a_read": (await repo.create(ORG_A, ["read"])).key,
        "a_rw": (await repo.create(ORG_A, ["read", "write"])).key,
        "b": (await repo.create(ORG_B, every)).key,
    }


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[Callable[[str | None], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _sender(services: Services, organization: str) -> Any:
    return await SenderAccounts(services.database).create(
        organization_id=organization, display_name=organization, status="connected"
    )


def _followup(workflow_id: str) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    lead = {"id": f"lead-{suffix}", "phone": f"+52155{int(suffix, 16) % 10**8:08d}", "language": "es"}
    return {"input": {"lead": lead, "type": "cold_lead_reengagement"}, "workflow_id": workflow_id}


async def _owned_by_a(a: httpx.AsyncClient, services: Services, dev_client: Client) -> dict[str, str]:
    """Resources of organization A for one route: a running execution under each id form the
    routes use, and a campaign; returns the path values that name them."""
    tag = uuid.uuid4().hex[:10]
    values = {"workflow_id": f"tenancy-{tag}", "id": f"deployment-tenancy-{tag}", "content_id": f"tenancy-{tag}"}
    for workflow_id in (values["workflow_id"], values["id"], f"content-{values['content_id']}"):
        started = await a.post("/api/workflows/FollowUpWorkflow/start", json=_followup(workflow_id))
        assert started.status_code == 202, started.text
        described = await dev_client.get_workflow_handle(workflow_id).describe()
        owner = {p.key.name: p.value for p in described.typed_search_attributes}["OrganizationId"]
        assert owner == ORG_A
    account = await _sender(services, ORG_A)
    created = await a.post(
        "/api/campaigns",
        json={"name": "A's", "organizationId": ORG_A, "senderAccountId": account.id, "graph": GRAPH, "leads": LEADS},
    )
    assert created.status_code == 201, created.text
    values["campaign_id"] = created.json()["campaign_id"]
    values["sender_account_id"] = account.id
    return values


def _missing() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "workflow_id": f"tenancy-{tag}",
        "id": f"deployment-tenancy-{tag}",
        "content_id": f"tenancy-{tag}",
        "campaign_id": f"missing-{tag}",
        "sender_account_id": f"missing-sender-{tag}",
    }


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


async def _call(
    client: httpx.AsyncClient, method: str, path: str, case: dict[str, Any], values: dict[str, str], org: str
) -> httpx.Response:
    filled = {**values, "org": org, "name": case.get("name", "")}
    kwargs: dict[str, Any] = {}
    if "json" in case:
        kwargs["json"] = _fill(case["json"], filled)
    if "params" in case:
        kwargs["params"] = _fill(case["params"], filled)
    return await client.request(method, path.format(**filled), **kwargs)


def _normalized(response: httpx.Response, values: dict[str, str]) -> tuple[int, str]:
    text = response.text
    for key in ("workflow_id", "id", "content_id", "campaign_id", "sender_account_id"):
        text = text.replace(values[key], f"<{key}>")
    text = text.replace("content-<content_id>", "<content>")
    return response.status_code, text


def test_every_keyed_route_is_classified(app: FastAPI) -> None:
    unclassified = set(keyed_routes(app)) - set(RESOURCE_ROUTES) - NO_RESOURCE_ROUTES
    assert not unclassified, f"add these routes to RESOURCE_ROUTES or NO_RESOURCE_ROUTES: {sorted(unclassified)}"


async def test_without_a_key_every_keyed_route_is_401(app: FastAPI, http: Any, keys: dict[str, str]) -> None:
    routes = keyed_routes(app)
    assert len(routes) > 40
    for method, path in routes:
        filled = path.replace("{", "").replace("}", "")
        for client in (http(None), http("ft_k_000000000000_" + "x" * 43), http(API_KEY + "x")):
            resp = await client.request(method, filled)
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.headers["www-authenticate"] == "Bearer"


async def test_a_read_only_key_is_refused_on_every_route_that_changes_something(
    app: FastAPI, http: Any, keys: dict[str, str]
) -> None:
    read_only, no_admin = http(keys["a_read"]), http(keys["a_rw"])
    for method, path in keyed_routes(app):
        filled = path.replace("{", "").replace("}", "")
        resp = await read_only.request(method, filled)
        if method == "GET" and path != "/metrics":
            assert resp.status_code != 403, (method, path, resp.text)
        else:
            assert resp.status_code == 403, (method, path, resp.text)
            assert "scope" in resp.json()["detail"]
    for method, path in (("POST", "/api/workflows/x/terminate"), ("GET", "/metrics")):
        resp = await no_admin.request(method, path)
        assert resp.status_code == 403 and "'admin'" in resp.json()["detail"], resp.text


@pytest.mark.parametrize(("method", "path"), sorted(RESOURCE_ROUTES))
async def test_another_organizations_resource_answers_as_a_missing_one(
    method: str,
    path: str,
    app: FastAPI,
    http: Any,
    keys: dict[str, str],
    services: Services,
    dev_client: Client,
    dev_worker: Worker,
) -> None:
    """(A worker runs, so A's own status queries are answered.)"""
    assert (method, path) in keyed_routes(app), "the route is gone: drop it from RESOURCE_ROUTES"
    a, b = http(keys["a"]), http(keys["b"])
    case = RESOURCE_ROUTES[(method, path)]
    owned, missing = await _owned_by_a(a, services, dev_client), _missing()

    foreign = await _call(b, method, path, case, owned, ORG_B)
    absent = await _call(b, method, path, case, missing, ORG_B)
    assert _normalized(foreign, owned) == _normalized(absent, missing)
    assert foreign.status_code in (404, 422), foreign.text  # 422 only where the body names no resource

    own = await _call(a, method, path, case, owned, ORG_A)
    assert _normalized(own, owned) != _normalized(absent, missing), "A's own resource must be found"
    assert own.status_code < 500, own.text


async def test_a_body_naming_another_organization_is_403_naming_both(
    http: Any, keys: dict[str, str], services: Services
) -> None:
    b = http(keys["b"])
    account = await _sender(services, ORG_B)
    campaign = {"name": "x", "organizationId": ORG_A, "senderAccountId": account.id, "graph": GRAPH, "leads": LEADS}
    resp = await b.post("/api/campaigns", json=campaign)
    assert resp.status_code == 403 and ORG_A in resp.text and ORG_B in resp.text, resp.text

    own = await b.post("/api/campaigns", json={**campaign, "organizationId": ORG_B})
    assert own.status_code == 201, own.text
    started = await b.post(f"/api/campaigns/{own.json()['campaign_id']}/start", json={"organizationId": ORG_A})
    assert started.status_code == 403 and ORG_A in started.text and ORG_B in started.text

    body = {**_followup(f"tenancy-{uuid.uuid4().hex[:8]}"), "search_attributes": {"OrganizationId": ORG_A}}
    resp = await b.post("/api/workflows/FollowUpWorkflow/start", json=body)
    assert resp.status_code == 403 and ORG_A in resp.text and ORG_B in resp.text, resp.text


async def test_a_start_under_an_id_another_organization_holds_is_409_and_changes_nothing(
    http: Any, keys: dict[str, str], dev_client: Client
) -> None:
    a, b = http(keys["a"]), http(keys["b"])
    workflow_id = f"tenancy-{uuid.uuid4().hex[:8]}"
    first = await a.post("/api/workflows/FollowUpWorkflow/start", json=_followup(workflow_id))
    assert first.status_code == 202
    taken = await b.post("/api/workflows/FollowUpWorkflow/start", json=_followup(workflow_id))
    assert taken.status_code == 409 and "taken" in taken.json()["detail"]
    assert (await dev_client.get_workflow_handle(workflow_id).describe()).run_id == first.json()["run_id"]


async def test_lists_hold_only_the_callers_organization_whatever_the_query(
    http: Any, keys: dict[str, str], dev_client: Client
) -> None:
    a, b = http(keys["a"]), http(keys["b"])
    mine = f"tenancy-b-{uuid.uuid4().hex[:8]}"
    theirs = f"tenancy-a-{uuid.uuid4().hex[:8]}"
    assert (await a.post("/api/workflows/FollowUpWorkflow/start", json=_followup(theirs))).status_code == 202
    assert (await b.post("/api/workflows/FollowUpWorkflow/start", json=_followup(mine))).status_code == 202

    async def listed(query: str | None) -> set[str]:
        for _ in range(50):  # visibility is eventually consistent
            resp = await b.get("/api/workflows", params={"query": query} if query else {})
            assert resp.status_code == 200, resp.text
            ids = {e["workflow_id"] for e in resp.json()["executions"]}
            if mine in ids:
                return ids
            import asyncio

            await asyncio.sleep(0.2)
        raise AssertionError(f"never listed {mine} for {query!r}")

    hostile = [
        None,
        'WorkflowType = "FollowUpWorkflow"',
        f'WorkflowId = "{mine}" OR WorkflowId = "{theirs}"',
        f'WorkflowId = "{mine}" OR OrganizationId = "{ORG_A}"',
        f'(WorkflowId = "{mine}") OR (OrganizationId = "{ORG_A}")',
        f'OrganizationId = "{ORG_A}" OR OrganizationId = "{ORG_B}"',
        f"WorkflowId = '{mine}' OR WorkflowId = '{theirs}'",
        f'WorkflowId = "{mine}" OR NOT OrganizationId = "{ORG_B}"',
    ]
    for query in hostile:
        ids = await listed(query)
        assert theirs not in ids, query
    for query in [
        f'WorkflowId = "{mine}") OR (OrganizationId = "{ORG_A}"',
        f'WorkflowId = "{mine}" OR OrganizationId = "{ORG_A}" -- comment',
        f'WorkflowId = "{mine}" /* x */',
        'WorkflowId = "unterminated',
        f'WorkflowId = "{mine}"; DROP',
        "ExecutionStatus = `Running`",
        "x" * 3000,
    ]:
        resp = await b.get("/api/workflows", params={"query": query})
        assert resp.status_code == 422, (query, resp.text)
    operator = http(API_KEY)
    both = await operator.get("/api/workflows", params={"query": f'WorkflowId = "{mine}" OR WorkflowId = "{theirs}"'})
    assert both.status_code == 200


def test_scoped_query_wraps_the_callers_text_and_keeps_order_by_last() -> None:
    assert scoped_query(None, "o") == 'OrganizationId = "o"'
    assert scoped_query('A = "x" OR B = "y"', "o") == '(A = "x" OR B = "y") AND OrganizationId = "o"'
    assert (
        scoped_query('A = "x" ORDER BY StartTime DESC', "o")
        == '(A = "x") AND OrganizationId = "o" ORDER BY StartTime DESC'
    )
    assert scoped_query('A = "a) OR (b"', "o") == '(A = "a) OR (b") AND OrganizationId = "o"'
    for bad in ('A = "x") OR (B = "y"', "(A = 1", 'A = "x', "A = 1 -- c", "A = 1; B", 'ORDER BY A (B = "x")'):
        with pytest.raises(UnsafeQuery):
            scoped_query(bad, "o")


async def test_revocation_holds_at_the_next_request_in_every_api_process(
    dev_client: Client, services: Services
) -> None:
    """Two API processes on one store: each app has its own services (engine, pool) over the
    same database file, as two ``followthrough api`` processes would."""
    other_services = await Services.open(services.settings)
    try:
        apps = [
            create_app(s.settings, api_key=API_KEY, services=s, client=dev_client) for s in (services, other_services)
        ]
        issued = await ApiKeys(services.database).create(ORG_A, ["read"])
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://t",
                headers={"Authorization": f"Bearer {issued.key}"},
            )
            for app in apps
        ]
        for client in clients:
            assert (await client.get("/api/workflows")).status_code == 200
        await ApiKeys(other_services.database).revoke(issued.record.id)
        for client in clients:
            resp = await client.get("/api/workflows")
            assert resp.status_code == 401, resp.text
            await client.aclose()
    finally:
        await other_services.close()


async def test_healthz_tells_an_anonymous_caller_only_up_or_down(http: Any, keys: dict[str, str]) -> None:
    anonymous = await http(None).get("/healthz")
    assert set(anonymous.json()) == {"status"}
    detailed = await http(keys["a_read"]).get("/healthz")
    assert {"api", "temporal", "worker", "status"} <= set(detailed.json())
    assert anonymous.status_code == detailed.status_code


async def test_the_codec_opens_only_the_callers_organizations_payloads(
    http: Any, keys: dict[str, str], dev_client: Client
) -> None:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    a, b = http(keys["a"]), http(keys["b"])
    workflow_id = f"tenancy-{uuid.uuid4().hex[:8]}"
    assert (await a.post("/api/workflows/FollowUpWorkflow/start", json=_followup(workflow_id))).status_code == 202
    history = await dev_client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = json_format.MessageToDict(Payloads(payloads=list(started.input.payloads)))
    assert body["payloads"][0]["metadata"]["workflow-id"]  # the payload names its workflow

    opened = await a.post("/codec/decode", json=body)
    assert opened.status_code == 200, opened.text
    plain = json_format.ParseDict(opened.json(), Payloads()).payloads[0]
    assert json.loads(plain.data)["lead"]["phone"].startswith("+52155")

    refused = await b.post("/codec/decode", json=body)
    assert refused.status_code == 200
    assert refused.json() == body  # still sealed
    assert (await http(keys["a_read"]).post("/codec/encode", json=body)).status_code == 403
