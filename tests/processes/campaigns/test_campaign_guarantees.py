"""What a campaign guarantees, proven on the dev server with the real app and worker.

The campaign routes (through HTTP), the real orchestrator and lead workflows and the sandbox
LinkedIn provider (its calls recorded in the outbox). The interleavings are forced, not hoped
for: a worker stopped under a running campaign, a pause sent the moment the start answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import build_activities, build_worker, create_app
from followthrough.processes.campaigns.activities import CampaignActivities
from followthrough.processes.campaigns.seats import StartLeadsInput, StartLeadsResult
from followthrough.services import Services
from followthrough.store.outbox import Outbox
from followthrough.temporal.devserver import free_port
from tests.conftest import API_KEY, running, suite_converter
from tests.processes.campaigns.outreach_support import seed

pytestmark = pytest.mark.devserver

#: visit -> invite -> end: two LinkedIn actions a lead, no waits (the sender's limits lifted).
QUICK: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "invite", "kind": "action", "action": "send_invitation"},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "visit", "target": "invite"}, {"source": "invite", "target": "done"}],
}
#: visit, then a day's wait: the campaign stays running while the test looks at it.
WAITING: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "wait", "kind": "delay", "duration": 1, "unit": "calendar"},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "visit", "target": "wait"}, {"source": "wait", "target": "done"}],
}


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def start(api: httpx.AsyncClient, campaign_id: str, window: int = 3) -> None:
    body = {"organizationId": "org-1", "maxConcurrentLeads": window, "leadProcessingDelay": 0}
    resp = await api.post(f"/api/campaigns/{campaign_id}/start", json=body)
    assert resp.status_code == 202, resp.text


async def campaign_status(api: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    resp = await api.get(f"/api/campaigns/{campaign_id}/status")
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def both(api: httpx.AsyncClient, campaign_id: str) -> tuple[str, str | None]:
    """The campaign row's status and the orchestrator's own state (its ``status`` query)."""
    answer = await campaign_status(api, campaign_id)
    orchestrator = answer["orchestrator"] or {}
    return answer["status"], orchestrator.get("state")


async def settle_on(api: httpx.AsyncClient, campaign_id: str, state: str) -> None:
    async def agree() -> bool:
        return await both(api, campaign_id) == (state, state)

    await eventually(agree, f"store and orchestrator both {state}")


async def outreach_keys(services: Services, campaign_id: str) -> set[str]:
    """The outbox's LinkedIn actions of this campaign (keys ``outreach:{campaign}:…``)."""
    entries = await Outbox(services.database).entries(provider="unipile")
    return {e.idempotency_key for e in entries if e.idempotency_key.startswith(f"outreach:{campaign_id}:")}


async def terminate(client: Client, campaign_id: str, lead_ids: list[str]) -> None:
    """Leave nothing running on the shared dev server."""
    for workflow_id in [f"campaign-{campaign_id}", *(f"campaign-{campaign_id}-lead-{lead}" for lead in lead_ids)]:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test over")
        except Exception:  # noqa: BLE001 - closed already, or never started
            pass


async def test_status_answers_within_two_seconds_when_the_worker_is_gone(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    seeded = await seed(services, WAITING, leads=3)
    campaign_id = seeded.campaign_id
    try:
        async with running(build_worker(dev_client, services)):
            await start(api, campaign_id)

            async def waiting_leads() -> bool:
                answer = await campaign_status(api, campaign_id)
                return (answer["orchestrator"] or {}).get("totals", {}).get("running") == 3

            await eventually(waiting_leads, "three leads running")
        began = time.monotonic()
        answer = await campaign_status(api, campaign_id)
        elapsed = time.monotonic() - began
        assert elapsed < 2, elapsed
        assert answer["status"] == "running" and answer["workflowStatus"] == "RUNNING"
        assert answer["leadCount"] == 3 and answer["leadWorkflows"]["RUNNING"] == 3
        assert "unavailable" in answer["orchestrator"]["error"]
    finally:
        await terminate(dev_client, campaign_id, seeded.lead_ids)


async def test_status_with_temporal_unreachable_is_a_503(services: Services) -> None:
    seeded = await seed(services, WAITING)
    client = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=suite_converter())
    app = create_app(services.settings, api_key=API_KEY, services=services, client=client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as down:
        began = time.monotonic()
        resp = await down.get(f"/api/campaigns/{seeded.campaign_id}/status")
        elapsed = time.monotonic() - began
    assert resp.status_code == 503, resp.text
    assert elapsed < 6, elapsed


async def test_the_stored_status_follows_the_orchestrator_through_pause_resume_and_stop(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    seeded = await seed(services, WAITING, leads=2)
    campaign_id = seeded.campaign_id
    try:
        async with running(build_worker(dev_client, services)):
            await start(api, campaign_id)
            await settle_on(api, campaign_id, "running")
            assert (await api.post(f"/api/campaigns/{campaign_id}/pause")).status_code == 202
            await settle_on(api, campaign_id, "paused")
            assert (await api.post(f"/api/campaigns/{campaign_id}/resume")).status_code == 202
            await settle_on(api, campaign_id, "running")
            resp = await api.post(f"/api/campaigns/{campaign_id}/stop", json={"completeCurrentExecutions": False})
            assert resp.status_code == 202
            await settle_on(api, campaign_id, "stopped")
    finally:
        await terminate(dev_client, campaign_id, seeded.lead_ids)


async def test_a_campaign_that_completes_is_completed_in_the_store_and_the_orchestrator(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    seeded = await seed(services, QUICK, leads=3)
    try:
        async with running(build_worker(dev_client, services)):
            await start(api, seeded.campaign_id)
            await settle_on(api, seeded.campaign_id, "completed")
            answer = await campaign_status(api, seeded.campaign_id)
        assert answer["orchestrator"]["totals"]["succeeded"] == 3
    finally:
        await terminate(dev_client, seeded.campaign_id, seeded.lead_ids)


async def test_a_leads_first_task_comes_back_with_its_start(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    """``campaigns.start_leads`` asks for an eager start: the server hands the lead's first
    workflow task to this worker in the start's answer, scheduled and started in the same
    write as the execution, instead of queueing it for a poll that the server must then
    match and record (at 3,000 leads: 11.1 writes of an execution a lead instead of 13.3)."""
    seeded = await seed(services, QUICK, leads=2)
    try:
        async with running(build_worker(dev_client, services)):
            await start(api, seeded.campaign_id)
            await settle_on(api, seeded.campaign_id, "completed")
        for lead_id in seeded.lead_ids:
            handle = dev_client.get_workflow_handle(f"campaign-{seeded.campaign_id}-lead-{lead_id}")
            events = [e async for e in handle.fetch_history_events()][:3]
            kinds = [EventType.Name(e.event_type) for e in events]
            assert kinds == [
                "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
                "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
                "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            ]
            scheduled, started = (e.event_time.ToDatetime() for e in events[1:])
            # Stamped in one write, microseconds apart (11 us here); a polled task starts after
            # the start's write and a trip through matching: 47 ms here with eager start off.
            assert started - scheduled < timedelta(milliseconds=1), (lead_id, started - scheduled)
    finally:
        await terminate(dev_client, seeded.campaign_id, seeded.lead_ids)


def _is_start_leads(method: Callable[..., Any]) -> bool:
    return isinstance(getattr(method, "__self__", None), CampaignActivities) and method.__name__ == "start_leads"


def gated_worker(client: Client, services: Services, entered: asyncio.Event, gate: asyncio.Event) -> Worker:
    """The package's worker, its ``campaigns.start_leads`` held at ``gate`` (``entered`` set
    once a batch is inside): the start batch is in flight for as long as the test wants."""
    real = CampaignActivities(services).start_leads

    @activity.defn(name="campaigns.start_leads")
    async def start_leads(input: StartLeadsInput) -> StartLeadsResult:
        entered.set()
        await gate.wait()
        return await real(input)

    acts = [a for a in build_activities(services) if not _is_start_leads(a)] + [start_leads]
    return build_worker(client, services, activities=acts)


async def test_once_pause_answers_no_linkedin_action_of_the_campaign_goes_out_until_resume(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    """Paused while its first start batch is in flight (held in ``campaigns.start_leads``): from
    the pause route's answer on, the outbox takes no LinkedIn action of the campaign, though
    the batch's leads then start; after ``resume`` every lead finishes."""
    leads, window = 8, 4
    seeded = await seed(services, QUICK, leads=leads)
    campaign_id = seeded.campaign_id
    entered, gate = asyncio.Event(), asyncio.Event()
    try:
        async with running(gated_worker(dev_client, services, entered, gate)):
            await start(api, campaign_id, window=window)
            await asyncio.wait_for(entered.wait(), 10)
            assert (await api.post(f"/api/campaigns/{campaign_id}/pause")).status_code == 202
            acknowledged = await outreach_keys(services, campaign_id)
            gate.set()

            async def batch_running() -> bool:
                answer = await campaign_status(api, campaign_id)
                return answer["leadWorkflows"].get("RUNNING") == window

            await eventually(batch_running, "the batch's leads started and held")
            for _ in range(30):  # three seconds, the leads started, not one action out
                await asyncio.sleep(0.1)
                assert await outreach_keys(services, campaign_id) == acknowledged == set()
            held = await campaign_status(api, campaign_id)
            assert held["orchestrator"]["state"] == "paused"
            assert held["orchestrator"]["totals"]["running"] == window

            assert (await api.post(f"/api/campaigns/{campaign_id}/resume")).status_code == 202
            await settle_on(api, campaign_id, "completed")
            done = await campaign_status(api, campaign_id)
        assert done["orchestrator"]["totals"]["succeeded"] == leads
        assert len(await outreach_keys(services, campaign_id)) == 2 * leads
    finally:
        await terminate(dev_client, campaign_id, seeded.lead_ids)


async def test_a_pause_among_running_leads_lets_no_new_action_out_after_it_answers(
    api: httpx.AsyncClient, services: Services, dev_client: Client
) -> None:
    """Paused while leads act: the actions recorded when the pause answers may still settle,
    but none is added for three seconds; after ``resume`` every lead finishes."""
    leads = 20
    seeded = await seed(services, QUICK, leads=leads)
    campaign_id = seeded.campaign_id
    try:
        async with running(build_worker(dev_client, services)):
            await start(api, campaign_id, window=4)

            async def acting() -> bool:
                return bool(await outreach_keys(services, campaign_id))

            await eventually(acting, "the first action recorded", seconds=10)
            assert (await api.post(f"/api/campaigns/{campaign_id}/pause")).status_code == 202
            acknowledged = await outreach_keys(services, campaign_id)
            for _ in range(30):
                await asyncio.sleep(0.1)
                assert await outreach_keys(services, campaign_id) == acknowledged
            assert len(acknowledged) < 2 * leads, "the campaign finished before the pause: no proof"
            assert (await api.post(f"/api/campaigns/{campaign_id}/resume")).status_code == 202
            await settle_on(api, campaign_id, "completed")
            done = await campaign_status(api, campaign_id)
        assert done["orchestrator"]["totals"]["succeeded"] == leads
        assert len(await outreach_keys(services, campaign_id)) == 2 * leads
    finally:
        await terminate(dev_client, campaign_id, seeded.lead_ids)
