"""Client errors are 4xx, Temporal's troubles a quick 503 or 409 that names the cause.

Two tiny workflows registered on a test worker stand for the bugs a real one may have: a run
that raises a plain exception (its workflow task fails and is retried forever) and an activity
refused for good, wrapped by the workflow in a failure of its own (a three-deep cause chain).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from followthrough.catalog import catalog, create_app
from followthrough.services import Services
from followthrough.store.repositories import Campaigns
from followthrough.temporal.devserver import free_port
from followthrough.temporal.operations import Workflows
from followthrough.temporal.specs import workflow_specs
from tests.conftest import API_KEY, suite_converter


@workflow.defn(name="BrokenTaskWorkflow")
class BrokenTaskWorkflow:
    FAMILY = "test"

    @workflow.run
    async def run(self, _: Any = None) -> None:
        raise RuntimeError("the ledger is missing")

    @workflow.query(name="status")
    def status(self) -> str:
        return "never answered"


@activity.defn(name="test.charge")
async def charge(_: Any = None) -> None:
    raise ApplicationError("card declined", type="PaymentDeclined", non_retryable=True)


@workflow.defn(name="DeclinedChargeWorkflow")
class DeclinedChargeWorkflow:
    FAMILY = "test"

    @workflow.run
    async def run(self, _: Any = None) -> None:
        try:
            await workflow.execute_activity(charge, None, start_to_close_timeout=timedelta(seconds=10))
        except ActivityError as exc:
            raise ApplicationError("the charge failed", type="ChargeFailed") from exc


TEST_WORKFLOWS = [BrokenTaskWorkflow, DeclinedChargeWorkflow]


def app_with_test_workflows(services: Services, client: Client) -> Any:
    app = create_app(services.settings, api_key=API_KEY, services=services, client=client)
    specs = {**catalog().specs, **workflow_specs(TEST_WORKFLOWS)}
    app.state.workflows = Workflows(client, services.settings.temporal_task_queue, specs=specs)
    return app


@pytest.fixture
async def api(dev_client: Client, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = app_with_test_workflows(services, dev_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as client:
        yield client


@pytest.fixture
async def test_worker(dev_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    worker = Worker(
        dev_client,
        task_queue=task_queue,
        workflows=TEST_WORKFLOWS,
        activities=[charge],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        yield worker


async def start(api: httpx.AsyncClient, workflow_type: str) -> str:
    wid = f"test-{uuid.uuid4()}"
    resp = await api.post(f"/api/workflows/{workflow_type}/start", json={"workflow_id": wid})
    assert resp.status_code == 202, resp.text
    return wid


@pytest.mark.parametrize("token", ["null", "garbage!", "AAAA", "x" * 40])
async def test_a_page_token_this_api_did_not_return_is_422(api: httpx.AsyncClient, token: str) -> None:
    resp = await api.get("/api/workflows", params={"page_token": token})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["query", "page_token"]


async def test_a_delay_past_what_a_timedelta_holds_is_422(api: httpx.AsyncClient) -> None:
    body = {"input": {}, "start_delay_seconds": 1e300}
    resp = await api.post("/api/workflows/HealthCheckWorkflow/start", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["body", "start_delay_seconds"]


async def test_temporal_down_is_a_quick_503_on_every_route(services: Services) -> None:
    # Connected once, then gone: a lazy client to a closed port fails on every call, as a
    # client whose server went down does (the SDK retries for ~10 s; we answer within 5).
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(address, lazy=True, data_converter=suite_converter())
    campaign = await Campaigns(services.database).create(name="down", organization_id="org-1")
    app = create_app(services.settings, api_key=API_KEY, services=services, client=client)
    routes = [
        ("GET", f"/api/campaigns/{campaign.id}/status", None),
        ("GET", "/api/workflows/some-id", None),
        ("GET", "/api/workflows/some-id/query/status", None),
        ("GET", "/api/workflows/some-id/result", None),
        ("GET", "/api/workflows", None),
        ("POST", "/api/workflows/HealthCheckWorkflow/start", {"input": {}}),
        ("POST", "/api/workflows/some-id/cancel", None),
    ]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as api:
        began = time.monotonic()
        answers = await asyncio.gather(*(api.request(m, path, json=body) for m, path, body in routes))
        elapsed = time.monotonic() - began
    for (method, path, _), resp in zip(routes, answers, strict=True):
        assert resp.status_code == 503, (method, path, resp.text)
        assert resp.json()["address"] == address
    assert elapsed < 8, f"503s took {elapsed:.1f} s"


async def test_campaign_status_with_temporal_unreachable_is_503(services: Services) -> None:
    settings = services.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    campaign = await Campaigns(services.database).create(name="down", organization_id="org-1")
    app = create_app(settings, api_key=API_KEY, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as api:
        began = time.monotonic()
        resp = await api.get(f"/api/campaigns/{campaign.id}/status")
    assert resp.status_code == 503, resp.text
    assert time.monotonic() - began < 7


async def test_a_query_no_worker_answers_is_a_quick_503(api: httpx.AsyncClient) -> None:
    wid = await start(api, "BrokenTaskWorkflow")  # nothing polls this test's task queue
    began = time.monotonic()
    resp = await api.get(f"/api/workflows/{wid}/query/status")
    elapsed = time.monotonic() - began
    assert resp.status_code == 503, resp.text
    assert "no worker answered the query 'status' within 5 s" in resp.json()["detail"]
    assert elapsed < 6.5
    await api.post(f"/api/workflows/{wid}/terminate")


async def test_a_query_to_a_workflow_whose_task_fails_is_409_naming_the_cause(
    api: httpx.AsyncClient, test_worker: Worker
) -> None:
    wid = await start(api, "BrokenTaskWorkflow")
    began = time.monotonic()
    resp = await api.get(f"/api/workflows/{wid}/query/status")
    elapsed = time.monotonic() - began
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["detail"].startswith("the workflow's task is failing")
    assert body["cause"] == {"message": "the ledger is missing", "type": "RuntimeError"}
    assert elapsed < 6.5
    await api.post(f"/api/workflows/{wid}/terminate")


async def test_a_failed_workflow_names_its_innermost_cause(api: httpx.AsyncClient, test_worker: Worker) -> None:
    resp = await api.post("/api/workflows/DeclinedChargeWorkflow/execute", json={})
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert (body["status"], body["error"], body["error_type"]) == ("FAILED", "card declined", "PaymentDeclined")
    assert "card declined" in body["detail"]
    assert [c["type"] for c in body["causes"]] == ["ChargeFailed", "ActivityError", "PaymentDeclined"]
    again = await api.get(f"/api/workflows/{body['workflow_id']}/result")
    assert again.status_code == 409
    assert (again.json()["error"], again.json()["error_type"]) == ("card declined", "PaymentDeclined")
