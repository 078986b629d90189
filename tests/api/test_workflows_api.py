"""The generic workflow routes on the real dev server, through the real FastAPI app."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.temporal.devserver import free_port
from tests.conftest import API_KEY


async def test_execute_returns_the_health_report(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    resp = await api.post("/api/workflows/HealthCheckWorkflow/execute", json={"input": {}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["workflow_id"].startswith("health-")
    assert body["result"]["ok"] is True
    assert {d["name"] for d in body["result"]["dependencies"]} == {"temporal", "database"}


async def test_second_start_with_same_id_returns_the_running_execution(api: httpx.AsyncClient) -> None:
    wid = f"health-dedupe-{uuid.uuid4()}"
    # No worker polls this test's queue and the start is delayed: the execution stays running.
    body = {"input": {}, "workflow_id": wid, "start_delay_seconds": 60}
    first = await api.post("/api/workflows/HealthCheckWorkflow/start", json=body)
    second = await api.post("/api/workflows/HealthCheckWorkflow/start", json=body)
    assert first.status_code == 202
    assert second.status_code == 200
    assert first.json()["run_id"] == second.json()["run_id"]
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    await api.post(f"/api/workflows/{wid}/terminate")


async def test_describe_and_result_while_running_then_after(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    wid = f"health-{uuid.uuid4()}"
    resp = await api.post(
        "/api/workflows/HealthCheckWorkflow/start", json={"workflow_id": wid, "start_delay_seconds": 2}
    )
    assert resp.status_code == 202
    desc = (await api.get(f"/api/workflows/{wid}")).json()
    assert set(desc) >= {
        "workflow_id",
        "run_id",
        "type",
        "status",
        "start_time",
        "close_time",
        "execution_time_ms",
        "task_queue",
    }
    assert (desc["type"], desc["status"], desc["close_time"]) == ("HealthCheckWorkflow", "RUNNING", None)
    assert desc["task_queue"] == dev_worker.task_queue
    early = await api.get(f"/api/workflows/{wid}/result")
    assert early.status_code == 409
    for _ in range(100):
        done = await api.get(f"/api/workflows/{wid}/result")
        if done.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert done.status_code == 200
    assert done.json()["result"]["ok"] is True
    closed = (await api.get(f"/api/workflows/{wid}")).json()
    assert closed["status"] == "COMPLETED"
    assert closed["execution_time_ms"] >= 0
    # The Partner Platform alias answers the same description.
    alias = (await api.get(f"/api/temporal/workflow/{wid}/status")).json()
    assert alias["run_id"] == closed["run_id"] and alias["status"] == "COMPLETED"


async def test_cancel_and_terminate(api: httpx.AsyncClient) -> None:
    for action in ("cancel", "terminate"):
        wid = f"health-{action}-{uuid.uuid4()}"
        await api.post("/api/workflows/HealthCheckWorkflow/start", json={"workflow_id": wid, "start_delay_seconds": 60})
        resp = await api.post(f"/api/workflows/{wid}/{action}")
        assert resp.status_code == 202
    # A cancel request is recorded; a terminate closes at once.
    desc = (await api.get(f"/api/workflows/{wid}")).json()
    assert desc["status"] == "TERMINATED"
    partner = await api.post(f"/api/temporal/workflow/health-missing-{uuid.uuid4()}/cancel")
    assert partner.status_code == 404


async def test_unknown_type_lists_the_known_ones(api: httpx.AsyncClient) -> None:
    resp = await api.post("/api/workflows/NoSuchWorkflow/start", json={"input": {}})
    assert resp.status_code == 404
    assert "HealthCheckWorkflow" in resp.json()["known_types"]


async def test_the_seeds_lower_camel_type_names_start_the_same_workflow(api: httpx.AsyncClient) -> None:
    resp = await api.post("/api/workflows/healthCheckWorkflow/start", json={"input": {}})
    assert resp.status_code == 202, resp.text
    desc = (await api.get(f"/api/workflows/{resp.json()['workflow_id']}")).json()
    assert desc["type"] == "HealthCheckWorkflow"
    await api.post(f"/api/workflows/{resp.json()['workflow_id']}/terminate")
    refused = await api.post("/api/workflows/sendNotificationWorkflow/start", json={"input": {"userId": "u1"}})
    assert refused.status_code == 422  # found, and its input model explains what is missing


async def test_unknown_id_is_404(api: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/workflows/{id}"),
        ("GET", "/api/workflows/{id}/result"),
        ("POST", "/api/workflows/{id}/signal/anything"),
        ("GET", "/api/workflows/{id}/query/status"),
        ("POST", "/api/workflows/{id}/cancel"),
        ("POST", "/api/workflows/{id}/terminate"),
    ]:
        resp = await api.request(method, path.format(id=f"missing-{uuid.uuid4()}"))
        assert resp.status_code == 404, (method, path, resp.text)
        assert "no workflow with id" in resp.json()["detail"]


async def test_invalid_input_is_422_naming_the_field_and_starts_nothing(api: httpx.AsyncClient) -> None:
    wid = f"health-bad-{uuid.uuid4()}"
    resp = await api.post(
        "/api/workflows/HealthCheckWorkflow/start", json={"workflow_id": wid, "input": {"dependencies": 5}}
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["input", "dependencies"]
    assert (await api.get(f"/api/workflows/{wid}")).status_code == 404


async def test_unknown_search_attribute_is_422(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/api/workflows/HealthCheckWorkflow/start", json={"input": {}, "search_attributes": {"Email": "a@b.c"}}
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["search_attributes", "Email"]


async def test_list_filters_by_search_attribute_and_paginates(api: httpx.AsyncClient) -> None:
    lead = f"lead-{uuid.uuid4()}"
    for _ in range(3):
        await api.post(
            "/api/workflows/HealthCheckWorkflow/start",
            json={"input": {}, "search_attributes": {"LeadId": lead}, "start_delay_seconds": 60},
        )
    query = f'LeadId="{lead}" AND WorkflowType="HealthCheckWorkflow"'
    for _ in range(100):  # visibility is eventually consistent
        everything = (await api.get("/api/workflows", params={"query": query})).json()["executions"]
        if len(everything) == 3:
            break
        await asyncio.sleep(0.1)
    assert len(everything) == 3
    first = (await api.get("/api/workflows", params={"query": query, "page_size": 2})).json()
    assert len(first["executions"]) == 2 and first["next_page_token"]
    second = (
        await api.get("/api/workflows", params={"query": query, "page_size": 2, "page_token": first["next_page_token"]})
    ).json()
    ids = {e["workflow_id"] for e in first["executions"] + second["executions"]}
    assert ids == {e["workflow_id"] for e in everything}
    assert all(e["search_attributes"]["WorkflowFamily"] == "health" for e in everything)
    for wid in ids:
        await api.post(f"/api/workflows/{wid}/terminate")


async def test_bad_visibility_query_is_400(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/workflows", params={"query": "NotAField = = 3"})
    assert resp.status_code == 400


async def test_every_route_but_healthz_needs_the_key(api: httpx.AsyncClient) -> None:
    no_key = {"Authorization": ""}
    assert (await api.get("/api/workflows", headers=no_key)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await api.post("/api/workflows/HealthCheckWorkflow/start", json={}, headers=wrong)).status_code == 401
    assert (await api.get("/healthz", headers=no_key)).status_code in (200, 503)
    assert (await api.get("/openapi.json")).status_code == 200


async def test_healthz_all_green_with_a_worker(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    for _ in range(50):
        resp = await api.get("/healthz")
        if resp.status_code == 200:
            break
        await asyncio.sleep(0.1)
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["status"] == "ok"
    assert body["temporal"]["ok"] and body["temporal"]["server_version"]
    assert body["worker"]["ok"] and body["worker"]["pollers"] >= 1


async def test_healthz_reports_a_missing_worker(api: httpx.AsyncClient) -> None:
    resp = await api.get("/healthz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["temporal"]["ok"] is True
    assert body["worker"]["ok"] is False


async def test_unreachable_temporal_is_503_with_the_address(services: Services) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = services.settings.model_copy(update={"temporal_address": address})
    app = create_app(settings, api_key=API_KEY, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        resp = await client.post("/api/workflows/HealthCheckWorkflow/start", json={"input": {}})
        health = await client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["address"] == address
    assert address in resp.json()["detail"]
    assert health.status_code == 503
    assert health.json()["temporal"]["ok"] is False
