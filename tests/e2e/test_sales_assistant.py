"""The sales assistant end to end on the real dev server, through HTTP only.

WhatsApp message in (webhook) → a demo booked (``POST /api/bookings``, the saga on the
package's worker with sandbox providers) → the three follow-ups running and found by the Web
UI's visibility query on ``LeadId`` → the lead replies (webhook) → every follow-up stops
without sending anything.

And a reply reaches the lead's outreach campaigns: the webhook's ``InboundMessageWorkflow``
finds the running ``LeadOutreachWorkflow``s by visibility and they end ``goal_reached``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.processes.campaigns.graph import LeadOutcome, LeadOutreachInput, LeadOutreachResult
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.inbound.rules import InboundMessageResult, inbound_workflow_id
from followthrough.processes.inbound.webhook import pending_tasks
from followthrough.services import Services
from followthrough.store.models import CampaignLead, Lead
from followthrough.store.outbox import Outbox
from followthrough.store.repositories import ApiKeys
from tests.api.test_webhooks import WA_SECRET, wa_body, wa_headers
from tests.processes.campaigns.outreach_support import seed

pytestmark = pytest.mark.devserver

API_KEY = "e2e-key"


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy (the dev server is real: no time skipping)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def http(dev_client: Client, services: Services, dev_worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    settings = services.settings.model_copy(update={"whatsapp_app_secret": SecretStr(WA_SECRET)})
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    # As a customer runs it: an organization's key, not the operator's.
    issued = await ApiKeys(services.database).create("org-e2e", ["read", "write"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {issued.key}"},
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
        await asyncio.gather(*pending_tasks(app))


async def test_whatsapp_in_booking_followups_visible_then_a_reply_stops_them(
    http: httpx.AsyncClient, dev_client: Client, services: Services
) -> None:
    phone = f"+5215{uuid.uuid4().int % 10**8:08d}"

    # 1. The lead writes on WhatsApp: the webhook starts the message's workflow, whose first
    # activity records the lead and the message.
    await _deliver(http, dev_client, phone, "Hola, quiero ver una demo")
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead).where(Lead.phone == phone))
    assert lead is not None
    lead_id = lead.id

    # 2. A demo is booked for the lead: the saga runs on the worker.
    start = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    request = {
        "lead": {"id": lead_id, "phone": phone, "name": "Ana", "language": "es"},
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }
    booking = await http.post("/api/bookings", json=request)
    assert booking.status_code == 202, booking.text
    booking_id = booking.json()["workflow_id"]
    assert booking_id == f"booking-{lead_id}-{start:%Y%m%dT%H%M%SZ}"

    async def booked() -> dict[str, Any] | None:
        answer = (await http.get(f"/api/bookings/{booking_id}")).json()
        return answer if answer["execution"]["status"] == "COMPLETED" else None

    done = await eventually(booked, what="the booking saga")
    result = done["status"]
    assert result["ok"], result
    assert result["completed"] == ["calendar_booking", "appointment", "lead_stage", "confirmation", "followups"]
    followups = {f"followup-{lead_id}-{t}" for t in ("pre_demo_24h", "pre_demo_reminder", "post_demo")}
    assert set(result["followups"]) == followups

    # 3. The Web UI's visibility finds the lead's running follow-ups by LeadId.
    query = f'LeadId="{lead_id}" AND WorkflowType="FollowUpWorkflow" AND ExecutionStatus="Running"'

    async def visible() -> set[str] | None:
        page = (await http.get("/api/workflows", params={"query": query})).json()
        ids = {e["workflow_id"] for e in page["executions"]}
        return ids if ids == followups else None

    await eventually(visible, what="the follow-ups in visibility")

    # 4. The lead replies: every follow-up stops, nothing more is sent.
    body = wa_body(phone, "Perfecto, ahí estaré")
    response = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert response.status_code == 200
    await asyncio.gather(*pending_tasks(http.app))  # type: ignore[attr-defined]

    async def all_closed() -> list[dict[str, Any]] | None:
        answers = [(await http.get(f"/api/followups/{wid}")).json() for wid in sorted(followups)]
        return answers if all(a["execution"]["status"] == "COMPLETED" for a in answers) else None

    for answer in await eventually(all_closed, what="the follow-ups to stop"):
        status = answer["status"]
        assert status["state"] == "stopped" and status["stopped_by"] == "lead_replied", status
        assert {s["state"] for s in status["steps"]} == {"cancelled"}

    async def none_running() -> bool:
        page = (await http.get("/api/workflows", params={"query": query})).json()
        return page["executions"] == []

    await eventually(none_running, what="visibility to show no running follow-up")
    sent = [e.idempotency_key for e in await Outbox(services.database).entries(operation="send")]
    assert [k for k in sent if k.startswith("followup:")] == []
    assert f"booking-confirmation:{lead_id}:{start:%Y%m%dT%H%M%SZ}" in sent


#: Wait ten days, then end: a lead of a campaign in progress when the lead writes back.
WAIT_GRAPH: dict[str, Any] = {
    "nodes": [{"id": "wait", "kind": "delay", "duration": 10, "unit": "calendar"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "wait", "target": "done"}],
}


async def _start_outreach(client: Client, services: Services, campaign_id: str, lead_id: str, account_id: str) -> Any:
    keyword = SearchAttributeKey.for_keyword
    return await client.start_workflow(
        LeadOutreachWorkflow.run,
        LeadOutreachInput(
            campaign_id=campaign_id, organization_id="org-1", lead_id=lead_id, sender_account_id=account_id
        ),
        id=f"campaign-{campaign_id}-lead-{lead_id}",
        task_queue=services.settings.temporal_task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(keyword("CampaignId"), campaign_id),
                SearchAttributePair(keyword("LeadId"), lead_id),
                SearchAttributePair(keyword("WorkflowFamily"), "lead_outreach"),
            ]
        ),
    )


async def test_a_whatsapp_reply_ends_the_leads_running_outreach_with_goal_reached(
    http: httpx.AsyncClient, dev_client: Client, services: Services
) -> None:
    phone = f"+5215{uuid.uuid4().int % 10**8:08d}"
    hello = await _deliver(http, dev_client, phone, "Hola")  # the lead is recorded; nothing runs for it yet
    assert (hello.outreach_found, hello.followups_signalled) == ([], [])
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead).where(Lead.phone == phone))
    assert lead is not None

    # Two campaigns reach this person: one lists them under the sales lead's id, the other under
    # its own campaign-lead id with the same phone (a send_whatsapp campaign).
    by_id = await seed(services, WAIT_GRAPH, leads=0)
    async with services.database.session() as session:
        session.add(
            CampaignLead(
                id=lead.id, campaign_id=by_id.campaign_id, position=1, linkedin_url="https://linkedin.com/in/ana"
            )
        )
    by_phone = await seed(services, WAIT_GRAPH, lead_fields={"phone": phone})
    outreach = [
        await _start_outreach(dev_client, services, by_id.campaign_id, lead.id, by_id.account_id),
        await _start_outreach(dev_client, services, by_phone.campaign_id, by_phone.lead_ids[0], by_phone.account_id),
    ]

    async def in_the_delay_and_visible() -> bool:
        for handle in outreach:  # the history, not a query: the ten-day timer is running
            events = (await handle.fetch_history()).events
            if not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events):
                return False
        query = f'LeadId IN ("{lead.id}", "{by_phone.lead_ids[0]}") AND WorkflowType="LeadOutreachWorkflow"'
        visible = {e.id async for e in dev_client.list_workflows(query + ' AND ExecutionStatus="Running"')}
        return visible == {h.id for h in outreach}

    await eventually(in_the_delay_and_visible, what="the outreach leads waiting and visible")

    result = await _deliver(http, dev_client, phone, "Sí, me interesa, hablemos")
    assert sorted(result.outreach_signalled) == sorted(h.id for h in outreach)
    for handle in outreach:
        ended: LeadOutreachResult = await asyncio.wait_for(handle.result(), 30)
        assert (ended.outcome, ended.ended_at_node) == (LeadOutcome.GOAL_REACHED, "wait")


async def _deliver(http: httpx.AsyncClient, client: Client, phone: str, text: str) -> InboundMessageResult:
    """A signed WhatsApp delivery; waits for its InboundMessageWorkflow's result."""
    message_id = f"wamid.{uuid.uuid4().hex}"
    body = wa_body(phone, text, message_id=message_id)
    response = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert response.json() == {"received": 1, "new": 1}
    handle = client.get_workflow_handle(inbound_workflow_id(message_id), result_type=InboundMessageResult)
    return await asyncio.wait_for(handle.result(), 30)
