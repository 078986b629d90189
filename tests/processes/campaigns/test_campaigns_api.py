"""Campaign routes through HTTP on the real dev server (visibility by CampaignId needs it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys, CampaignLeads, SenderAccounts
from tests.conftest import API_KEY

pytestmark = pytest.mark.devserver

GRAPH = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "invite", "kind": "action", "action": "send_invitation"},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "visit", "target": "invite"}, {"source": "invite", "target": "done"}],
}


@pytest.fixture
async def api(dev_client: Client, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The campaign routes as organization org-1 runs them: its own key, not the operator's."""
    app = create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)
    issued = await ApiKeys(services.database).create("org-1", ["read", "write"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {issued.key}"},
    ) as client:
        yield client


async def sender(services: Services, status: str = "connected") -> str:
    account = await SenderAccounts(services.database).create(organization_id="org-1", display_name="Ana", status=status)
    return account.id


def body(sender_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": "Q3 founders", "organizationId": "org-1", "senderAccountId": sender_id, "graph": GRAPH, **extra}


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"never: {what}")


async def test_create_refuses_a_bad_graph_naming_the_nodes(api: httpx.AsyncClient, services: Services) -> None:
    graph = {
        "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "x", "kind": "end"}],
        "edges": [{"source": "visit", "target": "nowhere"}],
    }
    resp = await api.post("/api/campaigns", json=body(await sender(services), graph=graph))
    assert resp.status_code == 422
    faults = resp.json()["detail"]
    assert {f["node_id"] for f in faults} >= {"visit"}
    assert any(f["code"] == "unknown_edge_target" for f in faults)


async def test_create_validates_and_deduplicates_leads(api: httpx.AsyncClient, services: Services) -> None:
    leads = [
        {"linkedin_url": "https://linkedin.com/in/ana/", "first_name": "Ana"},
        {"linkedin_url": "https://www.linkedin.com/in/ANA"},  # the same profile
        {"linkedin_id": "ACo123"},
    ]
    csv_text = "linkedin_url,first_name,title\nhttps://www.linkedin.com/in/bob,Bob,CTO\n,Nobody,\n"
    bad = await api.post("/api/campaigns", json=body(await sender(services), leads=leads, leadsCsv=csv_text))
    assert bad.status_code == 422
    assert bad.json()["detail"] == [
        {"type": "value_error", "loc": ["csv line 3"], "msg": "a lead needs linkedin_url or linkedin_id"}
    ]

    csv_text = "linkedin_url,first_name,title\nhttps://www.linkedin.com/in/bob,Bob,CTO\n"
    resp = await api.post("/api/campaigns", json=body(await sender(services), leads=leads, leadsCsv=csv_text))
    assert resp.status_code == 201, resp.text
    assert resp.json()["leads_added"] == 3 and resp.json()["duplicates"] == 1

    more = await api.post(
        f"/api/campaigns/{resp.json()['campaign_id']}/leads",
        content="linkedin_url\nhttps://www.linkedin.com/in/bob\nhttps://www.linkedin.com/in/carol\n",
        headers={"Content-Type": "text/csv"},
    )
    assert more.status_code == 201 and more.json()["leads_added"] == 1 and more.json()["duplicates"] == 1


async def test_csv_file_upload_adds_leads_deduplicated(api: httpx.AsyncClient, services: Services) -> None:
    """multipart/form-data: the campaign JSON in field ``campaign`` with a CSV ``file``, then more
    leads as a CSV ``file`` on /leads; duplicates (in the file or already in the campaign) counted."""
    first = (
        "\ufefflinkedin_url,first_name,title\n"
        "https://www.linkedin.com/in/ana,Ana,CEO\n"
        "https://linkedin.com/in/ANA/,Ana,CEO\n"  # the same profile, spelt differently
        "https://www.linkedin.com/in/bob,Bob,CTO\n"
    ).encode()
    created = await api.post(
        "/api/campaigns",
        data={"campaign": json.dumps(body(await sender(services)))},
        files={"file": ("leads.csv", first, "text/csv")},
    )
    assert created.status_code == 201, created.text
    assert (created.json()["leads_added"], created.json()["duplicates"]) == (2, 1)
    campaign_id = created.json()["campaign_id"]

    more = b"linkedin_url,linkedin_id\nhttps://www.linkedin.com/in/bob,\n,ACo-carol\n,ACo-carol\n"
    resp = await api.post(f"/api/campaigns/{campaign_id}/leads", files={"file": ("more.csv", more, "text/csv")})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["leads_added"], resp.json()["duplicates"]) == (1, 2)
    leads = await CampaignLeads(services.database).page(campaign_id)
    assert sorted(lead.linkedin_id or lead.linkedin_url or "" for lead in leads) == [
        "ACo-carol",
        "https://www.linkedin.com/in/ana",
        "https://www.linkedin.com/in/bob",
    ]
    assert next(lead for lead in leads if lead.first_name == "Ana").data == {"title": "CEO"}


async def test_malformed_csv_upload_is_422_naming_the_row_and_field(api: httpx.AsyncClient, services: Services) -> None:
    campaign_id = (await api.post("/api/campaigns", json=body(await sender(services)))).json()["campaign_id"]
    url = f"/api/campaigns/{campaign_id}/leads"

    bad = b"linkedin_url,first_name,email\nhttps://www.linkedin.com/in/ok,Ok,\n,NoProfile,\nhttps://www.linkedin.com/in/x,X,"
    bad += b"a" * 400 + b"\n"
    resp = await api.post(url, files={"file": ("bad.csv", bad, "text/csv")})
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert {"type": "value_error", "loc": ["csv line 3"], "msg": "a lead needs linkedin_url or linkedin_id"} in detail
    assert any(e["loc"] == ["csv line 4", "email"] for e in detail), detail
    assert len(detail) == 2  # line 2 is fine; nothing was added
    assert await CampaignLeads(services.database).count(campaign_id) == 0

    unreadable = b"linkedin_url\n" + b"x" * 200_000 + b"\n"  # past the csv module's field limit
    resp = await api.post(url, files={"file": ("nul.csv", unreadable, "text/csv")})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["csv line 2"], resp.text

    latin1 = "linkedin_url,first_name\nhttps://www.linkedin.com/in/jose,José\n".encode("latin-1")
    resp = await api.post(url, files={"file": ("latin1.csv", latin1, "text/csv")})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["file"], resp.text

    no_file = await api.post(url, data={"csv": "linkedin_id\nx\n"}, files={"other": ("x.csv", b"", "text/csv")})
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]

    # create: a bad campaign field in the form is FastAPI's usual 422 naming the field
    form = {"campaign": json.dumps(body(await sender(services), maxConcurrentLeads=0))}
    resp = await api.post("/api/campaigns", data=form, files={"file": ("leads.csv", b"linkedin_id\nx\n", "text/csv")})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "maxConcurrentLeads"], resp.text
    both = {"campaign": json.dumps(body(await sender(services), leadsCsv="linkedin_id\ny\n"))}
    resp = await api.post("/api/campaigns", data=both, files={"file": ("leads.csv", b"linkedin_id\nx\n", "text/csv")})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "file"], resp.text


async def test_start_refuses_a_disconnected_sender(api: httpx.AsyncClient, services: Services) -> None:
    created = await api.post(
        "/api/campaigns", json=body(await sender(services, "disconnected"), leads=[{"linkedin_id": "a"}])
    )
    campaign_id = created.json()["campaign_id"]
    resp = await api.post(f"/api/campaigns/{campaign_id}/start", json={"organizationId": "org-1"})
    assert resp.status_code == 422
    assert "not connected" in resp.json()["detail"]
    assert (await api.post("/api/campaigns/nope/start", json={"organizationId": "org-1"})).status_code == 404


async def test_start_pause_status_and_stop_through_http(
    api: httpx.AsyncClient, services: Services, dev_worker: Worker, dev_client: Client
) -> None:
    leads = [{"linkedin_id": f"lead-{i}"} for i in range(5)]
    created = await api.post("/api/campaigns", json=body(await sender(services), leads=leads))
    campaign_id = created.json()["campaign_id"]
    start = {"organizationId": "org-1", "maxConcurrentLeads": 3, "leadProcessingDelay": 0}

    resp = await api.post(f"/api/campaigns/{campaign_id}/start", json=start)
    assert resp.status_code == 202, resp.text
    assert resp.json()["workflowId"] == f"campaign-{campaign_id}"
    again = await api.post(f"/api/campaigns/{campaign_id}/start", json=start)
    assert again.status_code == 409
    # A campaign paced by its sender may take months: no execution timeout on the orchestrator.
    described = await dev_client.get_workflow_handle(f"campaign-{campaign_id}").describe()
    assert not described.raw_description.execution_config.HasField("workflow_execution_timeout")

    async def three_lead_workflows_visible() -> bool:
        status = (await api.get(f"/api/campaigns/{campaign_id}/status")).json()
        return status["leadWorkflows"].get("TOTAL") == 3 and status["orchestrator"]["totals"]["running"] == 3

    await eventually(three_lead_workflows_visible, "three lead workflows tagged with the campaign id")
    # Nor on a lead: its 30 days are its own deadline (lead_rules.LEAD_DEADLINE), no server timer.
    described_leads = 0
    async for lead in dev_client.list_workflows(f'CampaignId = "{campaign_id}" AND WorkflowFamily = "lead_outreach"'):
        lead_config = (await dev_client.get_workflow_handle(lead.id).describe()).raw_description.execution_config
        assert not lead_config.HasField("workflow_execution_timeout")
        assert not lead_config.HasField("workflow_run_timeout")
        described_leads += 1
    assert described_leads == 3
    status = (await api.get(f"/api/campaigns/{campaign_id}/status")).json()
    assert status["status"] == "running" and status["workflowStatus"] == "RUNNING"
    assert status["orchestrator"]["totals"]["pending"] == 2

    assert (await api.post(f"/api/campaigns/{campaign_id}/pause")).status_code == 202

    async def paused() -> bool:
        return (await api.get(f"/api/campaigns/{campaign_id}/status")).json()["orchestrator"]["state"] == "paused"

    await eventually(paused, "the orchestrator reports paused")

    resp = await api.post(f"/api/campaigns/{campaign_id}/stop", json={"completeCurrentExecutions": False})
    assert resp.status_code == 202

    async def stopped() -> bool:
        status = (await api.get(f"/api/campaigns/{campaign_id}/status")).json()
        return status["workflowStatus"] == "COMPLETED" and status["leadWorkflows"].get("RUNNING", 0) == 0

    await eventually(stopped, "the campaign and its leads stopped")
    status = (await api.get(f"/api/campaigns/{campaign_id}/status")).json()
    assert status["status"] == "stopped"
    assert status["orchestrator"]["state"] == "stopped"
    assert status["orchestrator"]["totals"]["stopped"] == 3 and status["orchestrator"]["totals"]["pending"] == 2
    assert (await api.post(f"/api/campaigns/{campaign_id}/pause")).status_code == 409


async def test_the_seeds_routes_name_the_campaign_in_the_body(
    api: httpx.AsyncClient, services: Services, dev_worker: Worker
) -> None:
    """Clento's shape: ``POST /api/campaigns/start {campaignId, …}``, pause/resume/stop likewise,
    ``GET /api/campaigns/status?campaignId=…``: the same work and answers as the per-id routes."""
    leads = [{"linkedin_id": f"seed-lead-{i}"} for i in range(4)]
    created = await api.post("/api/campaigns", json=body(await sender(services), leads=leads))
    campaign_id = created.json()["campaign_id"]

    missing = await api.post("/api/campaigns/start", json={"organizationId": "org-1"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "campaignId"]
    unknown = await api.post("/api/campaigns/start", json={"campaignId": "nope", "organizationId": "org-1"})
    assert unknown.status_code == 404
    assert (await api.get("/api/campaigns/status")).status_code == 422

    start = {"campaignId": campaign_id, "organizationId": "org-1", "maxConcurrentLeads": 2, "leadProcessingDelay": 0}
    resp = await api.post("/api/campaigns/start", json=start)
    assert resp.status_code == 202, resp.text
    assert resp.json()["workflowId"] == f"campaign-{campaign_id}"
    assert (await api.post("/api/campaigns/start", json=start)).status_code == 409

    async def state(expected: str) -> bool:
        answer = (await api.get("/api/campaigns/status", params={"campaignId": campaign_id})).json()
        return answer["orchestrator"] is not None and answer["orchestrator"]["state"] == expected

    pause = {"campaignId": campaign_id, "reason": "holiday"}
    assert (await api.post("/api/campaigns/pause", json=pause)).status_code == 202
    await eventually(lambda: state("paused"), "paused through the body route")
    assert (await api.post("/api/campaigns/resume", json={"campaignId": campaign_id})).status_code == 202
    await eventually(lambda: state("running"), "resumed through the body route")  # the sender's window holds leads
    stop = {"campaignId": campaign_id, "completeCurrentExecutions": False, "reason": "done"}
    assert (await api.post("/api/campaigns/stop", json=stop)).status_code == 202

    async def closed() -> bool:
        answer = (await api.get("/api/campaigns/status", params={"campaignId": campaign_id})).json()
        return answer["workflowStatus"] == "COMPLETED"

    await eventually(closed, "the campaign closed after the body-route stop")
    by_query = (await api.get("/api/campaigns/status", params={"campaignId": campaign_id})).json()
    by_path = (await api.get(f"/api/campaigns/{campaign_id}/status")).json()
    assert by_query == by_path
    assert by_query["status"] == "stopped" and by_query["orchestrator"]["state"] == "stopped"
    extra = await api.post("/api/campaigns/resume", json={"campaignId": campaign_id, "surprise": 1})
    assert extra.status_code == 422
