"""The orchestrator's store activities on a migrated SQLite store."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.processes.campaigns.activities import CampaignActivities
from followthrough.processes.campaigns.seats import CheckStartInput, LoadLeadsInput, SetCampaignStatusInput
from followthrough.services import Services
from followthrough.store.repositories import CampaignLeads, Campaigns, NewCampaignLead, SenderAccounts


async def campaign_with_leads(services: Services, n: int, sender_status: str = "connected") -> tuple[str, str]:
    account = await SenderAccounts(services.database).create(organization_id="org-1", status=sender_status)
    campaign = await Campaigns(services.database).create(
        name="c", organization_id="org-1", sender_account_id=account.id
    )
    await CampaignLeads(services.database).add(campaign.id, (NewCampaignLead(linkedin_id=f"li-{i}") for i in range(n)))
    return campaign.id, account.id


async def test_load_leads_pages_after_the_cursor_without_gaps(services: Services) -> None:
    campaign_id, _ = await campaign_with_leads(services, 7)
    acts, env = CampaignActivities(services), ActivityEnvironment()
    seen: list[int] = []
    cursor, has_more = 0, True
    while has_more:
        page = await env.run(acts.load_leads, LoadLeadsInput(campaign_id=campaign_id, after_position=cursor, limit=3))
        assert page.total == 7
        seen += [lead.position for lead in page.leads]
        cursor, has_more = page.leads[-1].position, page.has_more
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    empty = await env.run(acts.load_leads, LoadLeadsInput(campaign_id=campaign_id, after_position=7, limit=3))
    assert empty.leads == [] and not empty.has_more


async def test_check_start_refuses_a_disconnected_sender_without_retrying(services: Services) -> None:
    campaign_id, account_id = await campaign_with_leads(services, 1, sender_status="disconnected")
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(
            CampaignActivities(services).check_start,
            CheckStartInput(campaign_id=campaign_id, organization_id="org-1", sender_account_id=account_id),
        )
    assert err.value.type == "ValidationError" and err.value.non_retryable
    assert "not connected" in err.value.message


async def test_check_start_refuses_another_organizations_campaign(services: Services) -> None:
    campaign_id, account_id = await campaign_with_leads(services, 1)
    with pytest.raises(ApplicationError, match="another organization"):
        await ActivityEnvironment().run(
            CampaignActivities(services).check_start,
            CheckStartInput(campaign_id=campaign_id, organization_id="org-2", sender_account_id=account_id),
        )


async def test_set_status_records_the_run_on_the_campaign(services: Services) -> None:
    campaign_id, _ = await campaign_with_leads(services, 1)
    acts, env = CampaignActivities(services), ActivityEnvironment()
    await env.run(acts.set_status, SetCampaignStatusInput(campaign_id=campaign_id, status="running"))
    running = await Campaigns(services.database).get(campaign_id)
    assert running is not None and running.status == "running" and running.started_at is not None
    assert running.workflow_id == f"campaign-{campaign_id}"
    await env.run(acts.set_status, SetCampaignStatusInput(campaign_id=campaign_id, status="completed"))
    done = await Campaigns(services.database).get(campaign_id)
    assert done is not None and done.status == "completed" and done.completed_at is not None
