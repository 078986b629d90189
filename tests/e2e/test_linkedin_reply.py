"""A LinkedIn reply (Unipile's webhook) ends the lead's running outreach with ``goal_reached``.

Real HTTP through the FastAPI app, the real dev server and worker, the store's campaign leads.
The payload is the shape Unipile documents for its "new messages" webhook.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.processes.campaigns.graph import LeadOutcome, LeadOutreachResult
from followthrough.processes.campaigns.webhook import AUTH_HEADER, replying_leads
from followthrough.services import Services
from tests.e2e.test_sales_assistant import WAIT_GRAPH, _start_outreach, eventually
from tests.processes.campaigns.outreach_support import seed

pytestmark = pytest.mark.devserver

API_KEY = "e2e-key"
SECRET = "unipile-webhook-secret"


@pytest.fixture
async def http(dev_client: Client, services: Services, dev_worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    settings = services.settings.model_copy(update={"unipile_webhook_secret": SecretStr(SECRET)})
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def message(account_id: str, *, provider_id: str = "ACoAAother", profile: str | None = None, **extra: Any) -> dict:
    """Unipile's documented ``message_received`` payload."""
    body: dict[str, Any] = {
        "account_id": account_id,
        "account_type": "LINKEDIN",
        "event": "message_received",
        "chat_id": "R8J-xM9WX7eoHLp6gSVtWQ",
        "timestamp": "2026-11-22T13:49:07.965Z",
        "webhook_name": "followthrough",
        "message_id": f"msg-{uuid.uuid4().hex[:12]}",
        "message": "Thanks, happy to talk next week",
        "sender": {
            "attendee_id": "C8zaRZTlVcmfnke_Vai4Gg",
            "attendee_name": "Ana Lopez",
            "attendee_provider_id": provider_id,
            "attendee_profile_url": profile or f"https://www.linkedin.com/in/{provider_id}/",
        },
        "attendees": [],
    }
    body.update(extra)
    return body


async def post(http: httpx.AsyncClient, body: Any, secret: str | None = SECRET) -> httpx.Response:
    headers = {} if secret is None else {AUTH_HEADER: secret}
    return await http.post("/webhook/unipile", json=body, headers=headers)


async def test_a_linkedin_reply_ends_the_leads_outreach_with_goal_reached(
    http: httpx.AsyncClient, dev_client: Client, services: Services
) -> None:
    provider_id = f"ACoAA{uuid.uuid4().hex[:10]}"
    seeded = await seed(services, WAIT_GRAPH, lead_fields={"linkedin_id": provider_id})
    lead_id = seeded.lead_ids[0]
    handle = await _start_outreach(dev_client, services, seeded.campaign_id, lead_id, seeded.account_id)

    async def waiting() -> bool:
        events = (await handle.fetch_history()).events
        return any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)

    await eventually(waiting, what="the lead in its ten-day delay")
    account = seeded.account_id.replace("acct-", "unipile-")  # seed's provider_account_id
    answer = await post(http, message(account, provider_id=provider_id))
    assert answer.status_code == 200, answer.text
    assert answer.json()["signalled"] == [handle.id] and answer.json()["leads"] == 1
    ended: LeadOutreachResult = await asyncio.wait_for(handle.result(), 30)
    assert (ended.outcome, ended.ended_at_node) == (LeadOutcome.GOAL_REACHED, "wait")

    # A redelivery finds the workflow closed: nothing to signal, still a 200.
    again = await post(http, message(account, provider_id=provider_id))
    assert again.status_code == 200 and again.json()["signalled"] == []


async def test_leads_are_matched_by_id_or_profile_url_within_the_receiving_account(services: Services) -> None:
    by_id = await seed(services, WAIT_GRAPH, lead_fields={"linkedin_id": "ACoAAana"})
    by_url = await seed(services, WAIT_GRAPH, lead_fields={"linkedin_url": "https://www.linkedin.com/in/ana-lopez"})
    by_slug = await seed(services, WAIT_GRAPH, lead_fields={"linkedin_id": "ana-lopez"})
    account = by_id.account_id.replace("acct-", "unipile-")
    ids = {"ACoAAana", "ana-lopez"}
    url = "https://www.linkedin.com/in/ana-lopez"

    assert await replying_leads(services, account, ids, url) == [(by_id.campaign_id, by_id.lead_ids[0])]
    url_account = by_url.account_id.replace("acct-", "unipile-")
    assert await replying_leads(services, url_account, ids, url) == [(by_url.campaign_id, by_url.lead_ids[0])]
    slug_account = by_slug.account_id.replace("acct-", "unipile-")
    assert await replying_leads(services, slug_account, ids, url) == [(by_slug.campaign_id, by_slug.lead_ids[0])]
    # Another person, or the same person written to from an account that does not run the campaign.
    assert await replying_leads(services, account, {"ACoAAsomeone-else"}, None) == []
    assert await replying_leads(services, "unipile-unknown", ids, url) == []


@pytest.mark.parametrize(
    ("secret", "code"),
    [(None, 401), ("wrong", 403)],
)
async def test_a_delivery_without_the_shared_header_is_refused(
    http: httpx.AsyncClient, secret: str | None, code: int
) -> None:
    answer = await post(http, message("acct"), secret=secret)
    assert answer.status_code == code


async def test_an_unconfigured_secret_refuses_every_delivery(dev_client: Client, services: Services) -> None:
    app = create_app(services.settings, api_key=API_KEY, services=services, client=dev_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        answer = await post(client, message("acct"))
    assert answer.status_code == 403 and "UNIPILE_WEBHOOK_SECRET" in answer.text


async def test_other_events_are_acknowledged_and_ignored(http: httpx.AsyncClient) -> None:
    answer = await post(http, message("acct", event="message_read"))
    assert answer.status_code == 200 and answer.json() == {"ignored": "message_read"}


@pytest.mark.parametrize(
    "body",
    [["not", "an", "object"], {"event": "message_received", "sender": {"attendee_name": "x"}}],
)
async def test_a_malformed_message_event_is_a_400(http: httpx.AsyncClient, body: Any) -> None:
    answer = await post(http, body)
    assert answer.status_code == 400


async def test_a_reply_from_a_sender_without_identity_is_ignored(http: httpx.AsyncClient) -> None:
    body = message("acct")
    body["sender"] = {"attendee_name": "Someone"}
    answer = await post(http, body)
    assert answer.status_code == 200 and answer.json() == {"ignored": "the sender has no LinkedIn identity"}
