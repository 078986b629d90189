"""Campaigns, their lead lists, executions and sender caps on every back-end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from followthrough.store import Database
from followthrough.store.repositories import (
    CampaignExecutions,
    CampaignLeads,
    Campaigns,
    NewCampaignLead,
    RecordNotFound,
    Reservation,
    SenderAccounts,
    SenderUsageCounters,
    normalize_linkedin_url,
)
from followthrough.store.repositories.senders import day_period, week_period


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def new_campaign(database: Database) -> str:
    sender = await SenderAccounts(database).create(display_name="Sales", organization_id="org-1")
    campaign = await Campaigns(database).create(name="Q3", organization_id="org-1", sender_account_id=sender.id)
    return campaign.id


def test_linkedin_urls_are_normalised() -> None:
    expected = "https://www.linkedin.com/in/ana-garcia"
    for url in [
        "https://www.linkedin.com/in/ana-garcia/",
        "http://linkedin.com/in/Ana-Garcia?utm=x",
        " es.linkedin.com/in/ana-garcia#about ",
        "linkedin.com/in/ana-garcia",
    ]:
        assert normalize_linkedin_url(url) == expected
    assert normalize_linkedin_url("  ") is None


async def test_leads_are_deduplicated_by_linkedin_id_and_url(database: Database) -> None:
    repo = CampaignLeads(database)
    campaign_id = await new_campaign(database)
    first = await repo.add(
        campaign_id,
        [
            NewCampaignLead(linkedin_url="https://linkedin.com/in/a", first_name="A"),
            NewCampaignLead(linkedin_id="ACo-b", first_name="B"),
            NewCampaignLead(linkedin_url="https://www.linkedin.com/in/A/"),  # same as the first
        ],
    )
    assert (first.added, first.duplicates) == (2, 1)
    second = await repo.add(
        campaign_id,
        [
            NewCampaignLead(linkedin_id="ACo-b", linkedin_url="https://linkedin.com/in/b"),  # known id
            NewCampaignLead(linkedin_url="linkedin.com/in/c"),
        ],
    )
    assert (second.added, second.duplicates) == (1, 1)
    page = await repo.page(campaign_id)
    assert [(lead.position, lead.first_name) for lead in page] == [(1, "A"), (2, "B"), (3, None)]
    assert page[2].linkedin_url == "https://www.linkedin.com/in/c"
    campaign = await Campaigns(database).get(campaign_id)
    assert campaign is not None and campaign.lead_count == 3 == await repo.count(campaign_id)
    with pytest.raises(ValueError, match="neither a LinkedIn id nor a URL"):
        await repo.add(campaign_id, [NewCampaignLead(first_name="nobody")])
    with pytest.raises(RecordNotFound):
        await repo.add(uid("missing"), [NewCampaignLead(linkedin_id="x")])


async def test_paging_by_cursor_visits_every_lead_once_in_order(database: Database) -> None:
    repo = CampaignLeads(database)
    campaign_id = await new_campaign(database)
    result = await repo.add(campaign_id, [NewCampaignLead(linkedin_id=f"id-{i}") for i in range(2500)])
    assert result.added == 2500
    seen: list[str] = []
    cursor = 0
    while page := await repo.page(campaign_id, after_position=cursor, limit=700):
        seen.extend(lead.id for lead in page)
        cursor = page[-1].position
    assert seen == result.ids and cursor == 2500


async def test_concurrent_adds_to_one_campaign_never_collide(database: Database) -> None:
    repo = CampaignLeads(database)
    campaign_id = await new_campaign(database)
    batches = [[NewCampaignLead(linkedin_id=f"b{b}-{i}") for i in range(50)] for b in range(3)]
    batches.append([NewCampaignLead(linkedin_id="b0-0")])  # a duplicate of another batch
    results = await asyncio.gather(*(repo.add(campaign_id, batch) for batch in batches))
    assert sum(r.added for r in results) == 150
    positions = [lead.position for lead in await repo.page(campaign_id, limit=1000)]
    assert positions == list(range(1, 151))


async def test_executions_upsert_by_campaign_and_lead_and_merge_step_results(database: Database) -> None:
    repo = CampaignExecutions(database)
    campaign_id = await new_campaign(database)
    lead_id = uid("lead")
    created = await repo.upsert(campaign_id, lead_id, status="pending", total_steps=3, workflow_execution_id="wf-1")
    assert (created.current_step, created.started_at, created.execution_data) == (0, None, {})
    running = await repo.upsert(campaign_id, lead_id, status="in_progress", current_step=1, merge_data={"1": "ok"})
    await repo.upsert(campaign_id, lead_id, current_step=2, merge_data={"2": {"accepted": False}})
    done = await repo.upsert(campaign_id, lead_id, status="goal_reached")
    assert done.id == created.id and done.total_steps == 3 and done.current_step == 2
    assert done.execution_data == {"1": "ok", "2": {"accepted": False}}
    assert running.started_at is not None and done.started_at == running.started_at
    assert done.completed_at is not None and done.completed_at.tzinfo is UTC
    await repo.upsert(campaign_id, uid("lead"), status="failed")
    assert await repo.status_counts(campaign_id) == {"goal_reached": 1, "failed": 1}
    assert len(await repo.for_campaign(campaign_id, status="failed")) == 1


async def test_concurrent_first_upserts_leave_one_execution(database: Database) -> None:
    repo = CampaignExecutions(database)
    campaign_id = await new_campaign(database)
    lead_id = uid("lead")
    await asyncio.gather(*(repo.upsert(campaign_id, lead_id, current_step=i) for i in range(3)))
    assert len(await repo.for_campaign(campaign_id)) == 1


async def test_campaign_status_stamps_start_and_end(database: Database) -> None:
    campaigns = Campaigns(database)
    campaign_id = await new_campaign(database)
    assert (await campaigns.set_status(campaign_id, "running")).started_at is not None
    assert (await campaigns.set_status(campaign_id, "stopped")).completed_at is not None
    assert (await campaigns.update(campaign_id, max_concurrent_leads=5)).max_concurrent_leads == 5
    with pytest.raises(TypeError):
        await campaigns.update(campaign_id, no_such_column=1)


async def test_sender_accounts_carry_limits_and_a_known_status(database: Database) -> None:
    senders = SenderAccounts(database)
    org = uid("org")
    account = await senders.create(
        organization_id=org,
        display_name="Ana",
        daily_limits={"profile_visit": 150, "send_message": 100},
        timezone="Europe/Madrid",
        working_hours={"start": "09:00", "end": "18:00"},
        working_days=[1, 2, 3, 4, 5],
    )
    stored = await senders.get(account.id)
    assert stored is not None and stored.daily_limits["profile_visit"] == 150 and stored.weekly_invitation_limit == 100
    assert (await senders.set_status(account.id, "suspended")).status == "suspended"
    with pytest.raises(ValueError):
        await senders.set_status(account.id, "sleepy")
    assert [a.id for a in await senders.for_organization(org, status="suspended")] == [account.id]


def test_usage_periods_are_days_and_iso_weeks_in_the_senders_zone() -> None:
    late_sunday_utc = datetime(2025, 6, 29, 23, 30, tzinfo=UTC)  # Monday 01:30 in Madrid
    assert day_period(late_sunday_utc, "Europe/Madrid") == "2025-06-30"
    assert week_period(late_sunday_utc, "Europe/Madrid") == "2025-W27"
    assert week_period(late_sunday_utc, "UTC") == "2025-W26"


async def test_reservations_never_exceed_a_cap_under_concurrency(database: Database) -> None:
    counters = SenderUsageCounters(database)
    sender = await SenderAccounts(database).create(display_name="caps")
    caps = [Reservation("send_invitation", "2025-06-30", limit=20), Reservation("send_invitation", "2025-W27", 25)]
    granted = await asyncio.gather(*(counters.reserve(sender.id, caps) for _ in range(30)))
    assert granted.count(True) == 20
    assert await counters.used(sender.id, "send_invitation", "2025-06-30") == 20
    # the next day has a fresh daily cap but the week allows only 5 more: all-or-nothing
    tuesday = [Reservation("send_invitation", "2025-07-01", 20), Reservation("send_invitation", "2025-W27", 25)]
    assert [await counters.reserve(sender.id, tuesday) for _ in range(7)].count(True) == 5
    assert await counters.used(sender.id, "send_invitation", "2025-07-01") == 5
    await counters.release(sender.id, tuesday)
    assert await counters.used(sender.id, "send_invitation", "2025-W27") == 24
    assert await counters.used(sender.id, "profile_visit", "2025-07-01") == 0
