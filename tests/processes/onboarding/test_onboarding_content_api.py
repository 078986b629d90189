"""The onboarding and content routes over HTTP, against the dev server and a worker."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import activity_methods, build_worker
from followthrough.processes.content.activities import ContentActivities
from followthrough.processes.content.workflow import ContentPipelineWorkflow
from followthrough.processes.onboarding.activities import UserStoreActivities
from followthrough.processes.onboarding.routes import workflow_id_key
from followthrough.processes.onboarding.rules import onboarding_workflow_id
from followthrough.processes.onboarding.workflow import UserOnboardingWorkflow
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.services import Services
from tests.processes.content.test_content import FakeLLM

pytestmark = pytest.mark.devserver


class HeldMessaging:
    """``messaging.send`` that waits for ``release``: keeps a pipeline open after approval."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[SendMessageInput] = []

    @activity.defn(name="messaging.send")
    async def send(self, input: SendMessageInput) -> SendMessageResult:
        await self.release.wait()
        self.sent.append(input)
        return SendMessageResult(message_id=f"wamid.{len(self.sent)}", to=input.to)


@pytest.fixture
def messaging() -> HeldMessaging:
    return HeldMessaging()


@pytest.fixture
async def worker(
    dev_client: Client, services: Services, task_queue: str, messaging: HeldMessaging
) -> AsyncIterator[Worker]:
    acts = [
        *activity_methods(ContentActivities(services)),
        *activity_methods(UserStoreActivities(services)),
        FakeLLM().complete,
        messaging.send,
    ]
    workflows = [ContentPipelineWorkflow, UserOnboardingWorkflow]
    async with build_worker(dev_client, services, task_queue=task_queue, workflows=workflows, activities=acts) as w:
        yield w


async def test_onboarding_execute_waits_and_returns_the_result(
    api: httpx.AsyncClient, worker: Worker, messaging: HeldMessaging, services: Services
) -> None:
    messaging.release.set()
    body = {"userId": "user123", "email": "User@Example.com", "name": "John Doe", "phone": "+34600111222"}
    first = await api.post("/api/temporal/onboarding/execute", json=body)
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["workflow_id"].startswith("onboarding-") and "example" not in data["workflow_id"]
    # Keyed by the deployment's secret: hashing a guessed email does not find it.
    assert hashlib.sha256(b"user@example.com").hexdigest()[:32] not in data["workflow_id"]
    assert data["workflow_id"] == onboarding_workflow_id("user@example.com", workflow_id_key(services.settings))
    assert data["result"]["success"] and data["result"]["user_id"] == "user123"
    assert data["result"]["created_in"] == ["local"] and data["result"]["welcome_message_id"]

    again = await api.post("/api/temporal/onboarding/execute", json=body)
    assert again.json()["workflow_id"] == data["workflow_id"] and again.json()["result"]["success"]

    bad = await api.post("/api/temporal/onboarding/execute", json={"email": "nope"})
    assert bad.status_code == 422 and "email" in bad.text


async def _wait_pending(api: httpx.AsyncClient, content_id: str) -> dict[str, Any]:
    for _ in range(100):
        answer = await api.get(f"/api/content/{content_id}")
        if answer.status_code == 200 and answer.json()["content"]["review_pending"]:
            return answer.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("the review never became pending")


async def test_content_is_created_reviewed_and_a_second_verdict_is_refused(
    api: httpx.AsyncClient, worker: Worker, messaging: HeldMessaging
) -> None:
    created = await api.post(
        "/api/content", json={"brief": {"topic": "Temporal for founders"}, "subscribers": ["+34600111222"]}
    )
    assert created.status_code == 202, created.text
    content_id = created.json()["content_id"]

    pending = await _wait_pending(api, content_id)
    assert pending["content"]["title"] == "Draft 1" and pending["execution_status"] == "RUNNING"

    missing_reviewer = await api.post(f"/api/content/{content_id}/review", json={"approved": True})
    assert missing_reviewer.status_code == 422

    approved = await api.post(f"/api/content/{content_id}/review", json={"approved": True, "reviewer": "maria"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["decision"] == {"content_id": content_id, "round": 1, "approved": True}

    twice = await api.post(f"/api/content/{content_id}/review", json={"approved": False, "reviewer": "joe"})
    assert twice.status_code == 409
    assert "round 1 was already decided (approved by maria)" in twice.json()["detail"]

    messaging.release.set()
    for _ in range(100):
        done = (await api.get(f"/api/content/{content_id}")).json()
        if done["execution_status"] == "COMPLETED":
            break
        await asyncio.sleep(0.05)
    assert done["content"]["stage"] == "published" and done["content"]["notified"] == 1
    closed = await api.post(f"/api/content/{content_id}/review", json={"approved": True, "reviewer": "maria"})
    assert closed.status_code == 409

    assert (await api.get("/api/content/no-such-content")).status_code == 404
