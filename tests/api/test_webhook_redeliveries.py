"""Webhook redeliveries across API processes: a provider's redelivery of an event already handled
is 200 and changes nothing, the same signed request again is a replay (403), whichever of two
API processes sharing one store took the first.

The fakes here stay running after a signal (they wait for ``finish``), so a second signal would
land in their history: the tests count ``WorkflowExecutionSignaled`` events there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.operations import Workflows
from tests.api.test_webhooks import (
    CAL_SECRET,
    STRIPE_SECRET,
    _secret,
    cal_event,
    cal_headers,
    stripe_event,
    stripe_headers,
)
from tests.processes.deployments.test_webhook_slack import SLACK_SECRET, event_body, slack_headers


@workflow.defn(name="PaymentWorkflow", sandboxed=False)
class PatientPayment:
    """Takes any signal and keeps running until ``finish``: every signal stays countable."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, input: dict[str, Any]) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.done = self.done or name == "finish"


@workflow.defn(name="FollowUpWorkflow", sandboxed=False)
class PatientFollowUp(PatientPayment):
    @workflow.run
    async def run(self, input: dict[str, Any]) -> None:
        await super().run(input)


async def signals(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The names of the signals in the workflow's history."""
    history = await handle.fetch_history()
    return [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


@asynccontextmanager
async def two_apps(
    client: Client, services: Services, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two API processes: each its own app and its own ``Services.open`` over one SQLite file,
    with a worker of patient fakes."""
    settings = services.settings.model_copy(
        update={
            "stripe_webhook_secret": _secret(STRIPE_SECRET),
            "calcom_webhook_secret": _secret(CAL_SECRET),
            "slack_signing_secret": _secret(SLACK_SECRET),
        }
    )
    first, second = await Services.open(settings), await Services.open(settings)
    apps = [create_app(settings, api_key="k", services=s, client=client) for s in (first, second)]
    try:
        async with (
            Worker(client, task_queue=task_queue, workflows=[PatientPayment, PatientFollowUp]),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
        ):
            yield a, b
    finally:
        await first.close()
        await second.close()


@pytest.fixture
async def pair(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Client]]:
    async with two_apps(ts_env.client, services, task_queue) as (a, b):
        yield a, b, ts_env.client


async def start(client: Client, task_queue: str, name: str, workflow_id: str) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(name, {"fake": True}, id=workflow_id, task_queue=task_queue)


# --- Stripe --------------------------------------------------------------------------------
async def test_a_stripe_redelivery_is_200_and_signals_the_payment_once(pair: Any, task_queue: str) -> None:
    a, _, client = pair
    payment = await start(client, task_queue, "PaymentWorkflow", f"payment-l1-{uuid.uuid4().hex[:6]}")
    body = stripe_event("checkout.session.completed", payment.id)
    event_id = json.loads(body)["id"]
    now = int(time.time())
    first = await a.post("/webhook/stripe", content=body, headers=stripe_headers(body, at=now - 60))
    assert first.json() == {"signalled": "payment_completed", "workflow_id": payment.id}
    for at in (now - 30, now):  # Stripe signs each attempt afresh
        again = await a.post("/webhook/stripe", content=body, headers=stripe_headers(body, at=at))
        assert (again.status_code, again.json()) == (200, {"duplicate": True, "event_id": event_id})
    assert await signals(payment) == ["payment_completed"]


async def test_a_stripe_delivery_taken_by_one_process_is_a_duplicate_for_the_other(pair: Any, task_queue: str) -> None:
    a, b, client = pair
    payment = await start(client, task_queue, "PaymentWorkflow", f"payment-l1-{uuid.uuid4().hex[:6]}")
    body = stripe_event("checkout.session.completed", payment.id)
    now = int(time.time())
    signed = stripe_headers(body, at=now - 10)
    assert (await a.post("/webhook/stripe", content=body, headers=signed)).json()["signalled"] == "payment_completed"
    redelivered = await b.post("/webhook/stripe", content=body, headers=stripe_headers(body, at=now))
    assert (redelivered.status_code, redelivered.json()["duplicate"]) == (200, True)
    replayed = await b.post("/webhook/stripe", content=body, headers=signed)  # the same signed request
    assert replayed.status_code == 403 and "accepted before" in replayed.json()["detail"]
    forged = await b.post("/webhook/stripe", content=body, headers=stripe_headers(body, "whsec_other"))
    assert forged.status_code == 403
    assert (await b.post("/webhook/stripe", content=body)).status_code == 401
    assert await signals(payment) == ["payment_completed"]


async def test_a_stripe_delivery_that_failed_is_handled_on_redelivery(
    pair: Any, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, client = pair
    payment = await start(client, task_queue, "PaymentWorkflow", f"payment-l1-{uuid.uuid4().hex[:6]}")
    real_signal = Workflows.signal
    refused: list[str] = []

    async def down_once(self: Workflows, workflow_id: str, *args: Any, **kwargs: Any) -> Any:
        if not refused:
            refused.append(workflow_id)
            raise TemporalUnavailable(self.address, "connection refused")
        return await real_signal(self, workflow_id, *args, **kwargs)

    monkeypatch.setattr(Workflows, "signal", down_once)
    body = stripe_event("checkout.session.completed", payment.id)
    now = int(time.time())
    assert (await a.post("/webhook/stripe", content=body, headers=stripe_headers(body, at=now - 10))).status_code == 503
    again = await b.post("/webhook/stripe", content=body, headers=stripe_headers(body, at=now))
    assert again.json() == {"signalled": "payment_completed", "workflow_id": payment.id}
    assert refused == [payment.id] and await signals(payment) == ["payment_completed"]


# --- Slack ---------------------------------------------------------------------------------
async def test_a_slack_retry_is_200_as_a_duplicate_in_either_process(pair: Any) -> None:
    a, b, _ = pair
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    body = event_body(event_id)
    now = int(time.time())
    signed = slack_headers(body, at=now - 5)
    first = await a.post("/webhook/slack", content=body, headers=signed)
    assert first.json() == {"acknowledged": "app_mention", "event_id": event_id}
    for number, (http, at) in enumerate(((a, now - 2), (b, now)), start=1):  # Slack signs each retry afresh
        retry = slack_headers(body, at=at) | {"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": "http_timeout"}
        again = await http.post("/webhook/slack", content=body, headers=retry)
        assert (again.status_code, again.json()) == (200, {"duplicate": True, "event_id": event_id})
    assert (await b.post("/webhook/slack", content=body, headers=signed)).status_code == 403  # a replay
    assert (await b.post("/webhook/slack", content=body)).status_code == 401


# --- Cal.com -------------------------------------------------------------------------------
async def test_a_calcom_duplicate_is_200_and_moves_the_followups_once(pair: Any, task_queue: str) -> None:
    a, b, client = pair
    lead_id = f"lead-{uuid.uuid4().hex[:8]}"
    demo = [
        await start(client, task_queue, "FollowUpWorkflow", f"followup-{lead_id}-{t}")
        for t in ("pre_demo_24h", "pre_demo_reminder", "post_demo")
    ]
    body = cal_event("BOOKING_CANCELLED", lead_id)
    first = await a.post("/webhook/calcom", content=body, headers=cal_headers(body))
    assert sorted(first.json()["workflows"]) == sorted(h.id for h in demo)
    for http in (a, b):  # Cal.com's redelivery: the same bytes, the same signature
        again = await http.post("/webhook/calcom", content=body, headers=cal_headers(body))
        assert again.status_code == 200 and again.json()["duplicate"] is True
    # The same booking event re-serialized (keys in another order) is still the same delivery.
    reordered = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()
    assert (await b.post("/webhook/calcom", content=reordered, headers=cal_headers(reordered))).json()["duplicate"]
    for handle in demo:
        assert await signals(handle) == ["demo_changed"]
    forged = await b.post("/webhook/calcom", content=body, headers=cal_headers(body, "nope"))
    assert forged.status_code == 403
    assert (await b.post("/webhook/calcom", content=body)).status_code == 401
