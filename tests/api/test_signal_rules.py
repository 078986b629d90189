"""The generic API sends only what a client may send (dev server, the real app over httpx).

Every signal and update of every workflow type in the catalog is covered (a new handler is
picked up by the parametrization): a non-public one is 403, a public one refuses a missing or
ill-fitting body with 422 and delivers a valid one (signals: 202), and an unknown name is 404
listing the names the workflow has.
These checks run before anything is sent, against an execution parked on a task queue no
worker polls (its type is all they need).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import catalog
from followthrough.temporal.handlers import HandlerSpec

CATALOG = catalog().specs
HANDLERS = [
    (spec.name, kind, handler)
    for spec in CATALOG.values()
    for kind, handlers in (("signal", spec.signals), ("update", spec.updates))
    for handler in handlers.values()
]
WRONG_BODIES: list[Any] = [{"unexpected": [1, 2]}, [1, 2], "text"]
#: A valid body for each public handler whose model has required fields (the others: ``{}``).
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("FollowUpWorkflow", "demo_changed"): {"cancelled": True},
    ("ContentPipelineWorkflow", "review"): {"approved": True, "reviewer": "ana"},
}

Park = Callable[[str], Awaitable[str]]


@pytest.fixture
async def park(dev_client: Client) -> AsyncIterator[Park]:
    """Start executions of any type on a queue no worker polls; terminated afterwards."""
    started: list[str] = []

    async def start(workflow_type: str) -> str:
        workflow_id = f"parked-{workflow_type}-{uuid.uuid4()}"
        await dev_client.start_workflow(workflow_type, id=workflow_id, task_queue=f"parked-{uuid.uuid4()}")
        started.append(workflow_id)
        return workflow_id

    yield start
    for workflow_id in started:
        await dev_client.get_workflow_handle(workflow_id).terminate()


def _path(workflow_id: str, kind: str, name: str) -> str:
    return f"/api/workflows/{workflow_id}/{kind}/{name}"


@pytest.mark.parametrize(
    ("workflow_type", "kind", "handler"), HANDLERS, ids=[f"{t}.{k}.{h.name}" for t, k, h in HANDLERS]
)
async def test_every_signal_and_update_is_checked_before_it_is_sent(
    api: httpx.AsyncClient, park: Park, workflow_type: str, kind: str, handler: HandlerSpec
) -> None:
    workflow_id = await park(workflow_type)
    path = _path(workflow_id, kind, handler.name)
    if not handler.public:
        refused = await api.post(path, json={})
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"] == handler.internal_reason and handler.internal_reason
        return
    missing = await api.post(path)
    if handler.requires_arg:
        assert missing.status_code == 422, missing.text
        assert missing.json()["detail"][0]["loc"][0] == "body"
    for body in WRONG_BODIES if handler.takes_arg else [{}]:
        wrong = await api.post(path, json=body)
        assert wrong.status_code == 422, (body, wrong.text)
        assert all(e["loc"][0] == "body" and e["msg"] for e in wrong.json()["detail"])
    valid = VALID_BODIES.get((workflow_type, handler.name), {})
    if handler.input_model is not None:
        handler.input_model.model_validate(valid)  # the example itself fits (else: fix VALID_BODIES)
    if kind == "signal":  # an update waits for a worker; the valid update is tested below
        delivered = await api.post(path, json=valid)
        assert delivered.status_code == 202, delivered.text


@pytest.mark.parametrize("workflow_type", sorted(CATALOG))
async def test_an_unknown_handler_is_404_listing_the_known_ones(
    api: httpx.AsyncClient, park: Park, workflow_type: str
) -> None:
    spec = CATALOG[workflow_type]
    workflow_id = await park(workflow_type)
    for kind, known in (("signal", spec.signals), ("update", spec.updates), ("query", spec.queries)):
        path = _path(workflow_id, kind, "no_such_handler")
        answer = await (api.get(path) if kind == "query" else api.post(path, json={}))
        assert answer.status_code == 404, answer.text
        assert answer.json()[f"known_{kind}s"] == sorted(known), answer.json()


def _followup_input() -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    lead = {"id": f"lead-{suffix}", "phone": "+5215512345678", "name": "Ana", "language": "es"}
    return {"lead": lead, "type": "cold_lead_reengagement"}


async def _until(read: Callable[[], Awaitable[Any]], ready: Callable[[Any], bool]) -> Any:
    for _ in range(150):
        answer = await read()
        if ready(answer):
            return answer
        await asyncio.sleep(0.1)
    return answer


async def test_a_valid_public_signal_is_delivered_and_acted_on(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    started = await api.post("/api/workflows/FollowUpWorkflow/start", json={"input": _followup_input()})
    assert started.status_code == 202, started.text
    workflow_id = started.json()["workflow_id"]
    sent = await api.post(_path(workflow_id, "signal", "lead_replied"), json={"message_id": "wamid.1"})
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"workflow_id": workflow_id, "signal": "lead_replied", "delivered": True}
    status = await _until(
        lambda: api.get(_path(workflow_id, "query", "status")),
        lambda a: a.status_code == 200 and a.json()["result"]["state"] != "running",
    )
    assert status.json()["result"]["stopped_by"] == "lead_replied"


async def test_a_payment_cannot_be_marked_paid_through_the_api(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    lead = _followup_input()["lead"]
    body = {"lead": lead, "reference": "r1", "amount": 9900, "currency": "MXN", "description": "Plan"}
    workflow_id = (await api.post("/api/payments", json=body)).json()["workflow_id"]
    forged = {"session_id": "cs_x", "event_id": "evt_x", "paid_at": "2026-01-01T00:00:00Z"}
    refused = await api.post(_path(workflow_id, "signal", "payment_completed"), json=forged)
    assert refused.status_code == 403
    assert "only by the payment provider's webhook" in refused.json()["detail"]
    await api.post(f"/api/workflows/{workflow_id}/terminate")


async def test_a_valid_update_answers_its_result_and_a_refused_one_is_422(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    created = await api.post("/api/content", json={"brief": {"topic": "Signals"}, "subscribers": ["+34600111222"]})
    assert created.status_code == 202, created.text
    content_id = created.json()["content_id"]
    await _until(
        lambda: api.get(f"/api/content/{content_id}"),
        lambda a: a.status_code == 200 and a.json()["content"]["review_pending"],
    )
    workflow_id = f"content-{content_id}"
    path = _path(workflow_id, "update", "review")
    approved = await api.post(path, json={"approved": True, "reviewer": "maria"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["update"] == "review" and approved.json()["result"]["approved"] is True
    twice = await api.post(path, json={"approved": False, "reviewer": "joe"})
    assert twice.status_code == 422, twice.text
    assert "already decided" in twice.json()["reason"]
    await api.post(f"/api/workflows/{workflow_id}/terminate")
