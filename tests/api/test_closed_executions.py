"""A closed execution, through every route: starting its id again answers 200 with it (and its
result or error), never a second run; a signal, update, cancel or terminate answers 409 naming
its status. On the dev server with the package's worker (sandbox providers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

pytestmark = pytest.mark.devserver

TOKEN = "555666777:AAclosedTelegramTokenThatMustStayHidden1"


def _lead() -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    return {"id": f"lead-closed-{suffix}", "phone": f"+52155{int(suffix, 16) % 10**8:08d}", "language": "es"}


def _soon(days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0, second=0)


def _bodies() -> dict[str, dict[str, Any]]:
    """A valid body for each business route that starts a workflow."""
    tag = uuid.uuid4().hex[:8]
    start = _soon()
    return {
        "/api/followups": {"lead": _lead(), "type": "cold_lead_reengagement"},
        "/api/bookings": {
            "lead": _lead(),
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        },
        "/api/payments": {
            "lead": _lead(),
            "reference": f"order-{tag}",
            "amount": 1000,
            "currency": "mxn",
            "description": "plan",
        },
        "/api/integrations/sync": {
            "lead": _lead(),
            "event": "lead_created",
            "event_id": f"evt-{tag}",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
        "/api/content": {"content_id": f"closed-{tag}", "brief": {"topic": "durable workflows"}},
        "/api/deployments": {
            "bot_name": f"closed-{tag}",
            "bot_type": "telegram",
            "config": {"token": TOKEN, "webhook_url": "https://bots.example.com/tg"},
            "owner": "user-1",
        },
        "/api/temporal/notification/start": {
            "userId": "user-1",
            "message": "hello",
            "channels": ["whatsapp"],
            "recipient": {"phone": "+5215511112222"},
            "notificationId": f"closed-{tag}",
        },
        "/api/onboarding": {"email": f"closed-{tag}@example.com"},
        "/api/users": {"email": f"closed-users-{tag}@example.com"},
    }


async def eventually(check: Callable[[], Awaitable[Any]], what: str, tries: int = 150) -> Any:
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("path", list(_bodies()))
async def test_a_closed_execution_posted_again_is_answered_200_and_never_runs_twice(
    api: httpx.AsyncClient, path: str
) -> None:
    body = _bodies()[path]
    first = await api.post(path, json=body)
    assert first.status_code == 202, first.text
    workflow_id, run_id = first.json()["workflow_id"], first.json()["run_id"]
    terminated = await api.post(f"/api/workflows/{workflow_id}/terminate", params={"reason": "test"})
    assert terminated.status_code == 202, terminated.text

    again = await api.post(path, json=body)
    assert again.status_code == 200, again.text
    answer = again.json()
    assert answer["workflow_id"] == workflow_id and answer["run_id"] == run_id
    assert answer["created"] is False and answer["status"] == "TERMINATED"
    assert answer["result"] is None and answer["error"]["message"] == "test"


async def test_a_completed_booking_posted_again_answers_its_result_and_syncs_once(
    api: httpx.AsyncClient, dev_worker: Worker, dev_client: Client
) -> None:
    lead = _lead()
    start = _soon()
    body = {"lead": lead, "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    first = await api.post("/api/bookings", json=body)
    assert first.status_code == 202, first.text
    workflow_id = first.json()["workflow_id"]

    async def completed() -> bool:
        described = await api.get(f"/api/workflows/{workflow_id}")
        return described.json()["status"] == "COMPLETED"

    await eventually(completed, "the booking saga completes")

    again = await api.post("/api/bookings", json=body)
    assert again.status_code == 200, again.text
    answer = again.json()
    assert answer["created"] is False and answer["status"] == "COMPLETED"
    assert answer["run_id"] == first.json()["run_id"]
    assert answer["result"]["ok"] is True and answer["result"]["lead_id"] == lead["id"]

    syncs = f'WorkflowType = "IntegrationSyncWorkflow" AND LeadId = "{lead["id"]}"'

    async def one_sync() -> int:
        return (await dev_client.count_workflows(syncs)).count

    assert await eventually(one_sync, "the demo_scheduled sync is visible") == 1
    runs = [e async for e in dev_client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    assert len(runs) == 1
    await asyncio.sleep(0.5)  # a second run would have started its own sync by now
    assert await one_sync() == 1


async def test_the_generic_start_answers_a_completed_execution_with_its_result(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    workflow_id = f"health-closed-{uuid.uuid4().hex[:8]}"
    started = await api.post("/api/workflows/HealthCheckWorkflow/start", json={"workflow_id": workflow_id})
    assert started.status_code == 202, started.text

    async def done() -> Any:
        got = await api.get(f"/api/workflows/{workflow_id}/result")
        return got.json() if got.status_code == 200 else None

    first = await eventually(done, "the health check completes")
    again = await api.post("/api/workflows/HealthCheckWorkflow/start", json={"workflow_id": workflow_id})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "COMPLETED" and again.json()["result"] == first["result"]


async def _completed_deployment(api: httpx.AsyncClient) -> str:
    name = f"closed-{uuid.uuid4().hex[:8]}"
    body = {
        "bot_name": name,
        "bot_type": "telegram",
        "config": {"token": TOKEN, "webhook_url": "https://bots.example.com/tg"},
        "owner": "user-1",
    }
    assert (await api.post("/api/deployments", json=body)).status_code == 202

    async def completed() -> bool:
        return (await api.get(f"/api/deployments/{name}")).json()["status"] == "COMPLETED"

    await eventually(completed, "the deployment completes")
    return name


async def test_signals_and_cancels_to_a_completed_deployment_are_409_naming_completed(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    name = await _completed_deployment(api)
    workflow_id = f"deployment-{name}"
    for path in (
        f"/api/deployments/{name}/pause",
        f"/api/deployments/{name}/resume",
        f"/api/deployments/{name}/cancel",
        f"/api/workflows/{workflow_id}/signal/pause",
        f"/api/workflows/{workflow_id}/cancel",
        f"/api/workflows/{workflow_id}/terminate",
        f"/api/temporal/workflow/{workflow_id}/cancel",
    ):
        answer = await api.post(path)
        assert answer.status_code == 409, (path, answer.text)
        assert answer.json()["status"] == "COMPLETED" and "COMPLETED" in answer.json()["detail"], path


async def test_a_review_of_a_closed_pipeline_is_409_and_a_missing_id_still_404(api: httpx.AsyncClient) -> None:
    content_id = f"closed-{uuid.uuid4().hex[:8]}"
    started = await api.post("/api/content", json={"content_id": content_id, "brief": {"topic": "t"}})
    assert started.status_code == 202, started.text
    await api.post(f"/api/workflows/content-{content_id}/terminate")
    review = await api.post(f"/api/content/{content_id}/review", json={"approved": True, "reviewer": "ana"})
    assert review.status_code == 409 and review.json()["status"] == "TERMINATED", review.text
    update = await api.post(
        f"/api/workflows/content-{content_id}/update/review", json={"approved": True, "reviewer": "ana"}
    )
    assert update.status_code == 409 and update.json()["status"] == "TERMINATED", update.text
    missing = await api.post(f"/api/workflows/missing-{content_id}/cancel")
    assert missing.status_code == 404
    missing_signal = await api.post(f"/api/deployments/missing-{content_id}/pause")
    assert missing_signal.status_code == 404
