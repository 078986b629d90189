"""A sender account's disconnect pauses its running campaigns and its reconnect resumes them, on
the real dev server, app and worker: Unipile's status webhook in, the orchestrators' state out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.processes.campaigns.seats import PauseCampaignSignal
from followthrough.processes.senders.rules import pause_reason
from followthrough.services import Services
from followthrough.store.repositories import Campaigns, SenderAccounts, SenderPauses
from tests.conftest import API_KEY
from tests.processes.campaigns.test_campaigns_api import GRAPH, eventually

pytestmark = pytest.mark.devserver

SECRET = "unipile-webhook-secret"
WEBHOOK = "/webhook/unipile/accounts"
SIGNED = {"Unipile-Auth": SECRET}


@pytest.fixture
async def app_client(dev_client: Client, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with the webhook's secret set, called with the operator's key."""
    settings = services.settings.model_copy(update={"unipile_webhook_secret": SecretStr(SECRET)})
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        yield client


def report(account_id: str, message: str) -> dict[str, Any]:
    return {"AccountStatus": {"account_id": account_id, "account_type": "LINKEDIN", "message": message}}


async def sender(services: Services, unipile_id: str) -> str:
    account = await SenderAccounts(services.database).create(
        organization_id="org-1", provider_account_id=unipile_id, display_name="Ana", status="connected"
    )
    return account.id


async def started_campaign(http: httpx.AsyncClient, sender_id: str, tag: str) -> str:
    """A campaign of ``sender_id`` whose orchestrator answers ``running`` (five leads, three at a time)."""
    leads = [{"linkedin_id": f"{tag}-lead-{i}"} for i in range(5)]
    body = {"name": tag, "organizationId": "org-1", "senderAccountId": sender_id, "graph": GRAPH, "leads": leads}
    created = await http.post("/api/campaigns", json=body)
    assert created.status_code == 201, created.text
    campaign_id = str(created.json()["campaign_id"])
    start = {"organizationId": "org-1", "maxConcurrentLeads": 3, "leadProcessingDelay": 0}
    resp = await http.post(f"/api/campaigns/{campaign_id}/start", json=start)
    assert resp.status_code == 202, resp.text
    await eventually(lambda: is_state(http, campaign_id, "running"), f"campaign {tag} running")
    return campaign_id


async def is_state(http: httpx.AsyncClient, campaign_id: str, expected: str) -> bool:
    """The orchestrator's ``status`` query and the stored status both say ``expected``."""
    status = (await http.get(f"/api/campaigns/{campaign_id}/status")).json()
    orchestrator = status.get("orchestrator") or {}
    return orchestrator.get("state") == expected and status["status"] == expected


async def pause_reasons(dev_client: Client, campaign_id: str) -> list[str | None]:
    """The reasons of the ``pause`` signals in the orchestrator's history, oldest first."""
    history = await dev_client.get_workflow_handle(f"campaign-{campaign_id}").fetch_history()
    reasons: list[str | None] = []
    for event in history.events:
        signaled = event.workflow_execution_signaled_event_attributes
        if event.HasField("workflow_execution_signaled_event_attributes") and signaled.signal_name == "pause":
            [signal] = await dev_client.data_converter.decode(list(signaled.input.payloads), [PauseCampaignSignal])
            reasons.append(signal.reason)
    return reasons


async def test_disconnect_pauses_running_campaigns_and_reconnect_resumes_only_those(
    app_client: httpx.AsyncClient, services: Services, dev_worker: Worker, dev_client: Client
) -> None:
    http = app_client
    sender_id = await sender(services, "acc-pauses")
    running = await started_campaign(http, sender_id, "running")
    by_hand = await started_campaign(http, sender_id, "by-hand")
    assert (await http.post(f"/api/campaigns/{by_hand}/pause", json={"reason": "holiday"})).status_code == 202
    await eventually(lambda: is_state(http, by_hand, "paused"), "the campaign paused by hand")
    accounts, pauses, campaigns = (
        SenderAccounts(services.database),
        SenderPauses(services.database),
        Campaigns(services.database),
    )

    # CREDENTIALS: the running campaign pauses, with the sender and the status as the reason.
    resp = await http.post(WEBHOOK, json=report("acc-pauses", "CREDENTIALS"), headers=SIGNED)
    assert resp.status_code == 200, resp.text
    [change] = resp.json()["senderAccounts"]
    assert change == {"id": sender_id, "status": "credentials_invalid", "paused": [running], "resumed": []}
    await eventually(lambda: is_state(http, running, "paused"), "the running campaign paused")
    reason = pause_reason(sender_id, "credentials_invalid")
    assert sender_id in reason and "credentials_invalid" in reason
    assert await pause_reasons(dev_client, running) == [reason]
    assert [(p.campaign_id, p.reason) for p in await pauses.for_sender(sender_id)] == [(running, reason)]
    assert (await accounts.get(sender_id)).status == "credentials_invalid"  # type: ignore[union-attr]

    # A repeated report changes nothing: no second pause signal, no new record.
    again = await http.post(WEBHOOK, json=report("acc-pauses", "CREDENTIALS"), headers=SIGNED)
    assert again.json()["senderAccounts"][0]["paused"] == []
    assert await pause_reasons(dev_client, running) == [reason]
    assert await pause_reasons(dev_client, by_hand) == ["holiday"]

    # Without the secret, or with a wrong one, a report is refused and changes nothing.
    assert (await http.post(WEBHOOK, json=report("acc-pauses", "OK"))).status_code == 401
    forged = await http.post(WEBHOOK, json=report("acc-pauses", "OK"), headers={"Unipile-Auth": "nope"})
    assert forged.status_code == 403
    assert (await accounts.get(sender_id)).status == "credentials_invalid"  # type: ignore[union-attr]
    assert await is_state(http, running, "paused") and len(await pauses.for_sender(sender_id)) == 1

    # OK: the campaign the disconnect paused resumes; the one paused by hand stays paused.
    resp = await http.post(WEBHOOK, json=report("acc-pauses", "OK"), headers=SIGNED)
    assert resp.json()["senderAccounts"] == [
        {"id": sender_id, "status": "connected", "paused": [], "resumed": [running]}
    ]
    await eventually(lambda: is_state(http, running, "running"), "the sender's campaign resumed")
    assert await is_state(http, by_hand, "paused")
    assert (await campaigns.get(by_hand)).status == "paused"  # type: ignore[union-attr]
    assert (await accounts.get(sender_id)).status == "connected"  # type: ignore[union-attr]
    assert await pauses.for_sender(sender_id) == []

    again = await http.post(WEBHOOK, json=report("acc-pauses", "OK"), headers=SIGNED)
    assert again.json()["senderAccounts"][0]["resumed"] == []
    assert await is_state(http, running, "running") and await is_state(http, by_hand, "paused")


async def test_a_campaign_paused_by_hand_after_the_disconnect_stays_paused_on_reconnect(
    app_client: httpx.AsyncClient, services: Services, dev_worker: Worker
) -> None:
    http = app_client
    sender_id = await sender(services, "acc-taken-over")
    campaign_id = await started_campaign(http, sender_id, "taken-over")
    resp = await http.post(WEBHOOK, json=report("acc-taken-over", "STOPPED"), headers=SIGNED)
    assert resp.json()["senderAccounts"][0]["paused"] == [campaign_id]
    await eventually(lambda: is_state(http, campaign_id, "paused"), "paused by the disconnect")

    # A person pauses it too: the pause is theirs now, and the sender's record goes.
    assert (await http.post(f"/api/campaigns/{campaign_id}/pause", json={"reason": "review"})).status_code == 202
    assert await SenderPauses(services.database).for_sender(sender_id) == []

    resp = await http.post(WEBHOOK, json=report("acc-taken-over", "OK"), headers=SIGNED)
    assert resp.json()["senderAccounts"][0]["resumed"] == []
    assert await is_state(http, campaign_id, "paused")
