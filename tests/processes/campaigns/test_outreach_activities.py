"""The lead workflow's store activities: open_lead's refusals and the execution record's upserts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.processes.campaigns.graph import LeadOutcome, StepResult
from followthrough.processes.campaigns.records import CampaignExecutionActivities
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.processes.campaigns.steps import FinishExecutionInput, OpenLeadInput, RecordStepInput
from followthrough.services import Services
from followthrough.store.models import Campaign, SenderAccount
from tests.processes.campaigns.outreach_support import execution_record, seed

GRAPH = {
    "nodes": [{"id": "a", "kind": "action", "action": "profile_visit"}, {"id": "z", "kind": "end"}],
    "edges": [{"source": "a", "target": "z"}],
}
T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _opening(campaign_id: str, lead_id: str, account_id: str, workflow_id: str = "wf-1") -> OpenLeadInput:
    return OpenLeadInput(
        campaign_id=campaign_id, lead_id=lead_id, sender_account_id=account_id, workflow_id=workflow_id, started_at=T0
    )


async def test_open_lead_reads_graph_lead_and_sender_limits(services: Services) -> None:
    seeded = await seed(services, GRAPH, account={"timezone": "Europe/Madrid", "daily_limits": {"profile_visit": 80}})
    plan = await ActivityEnvironment().run(
        OutreachActivities(services).open_lead, _opening(seeded.campaign_id, seeded.lead_ids[0], seeded.account_id)
    )
    assert [n.id for n in plan.graph.nodes] == ["a", "z"]
    assert plan.lead.first_name == "Ana" and plan.lead.identifier is not None
    assert plan.sender.acting_account.startswith("unipile-")
    assert plan.sender.limits.window.timezone == "Europe/Madrid"
    assert plan.sender.limits.daily_cap("profile_visit") == 80
    assert plan.sender.limits.weekly_cap("send_invitation") == 100


async def test_open_lead_refuses_an_invalid_graph_permanently(services: Services) -> None:
    seeded = await seed(services, GRAPH)
    async with services.database.session() as session:
        campaign = await session.get(Campaign, seeded.campaign_id)
        assert campaign is not None
        campaign.graph = {"nodes": [{"id": "a", "kind": "action", "action": "profile_visit"}], "edges": []}
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            OutreachActivities(services).open_lead, _opening(seeded.campaign_id, seeded.lead_ids[0], seeded.account_id)
        )
    assert info.value.type == "ValidationError" and info.value.non_retryable
    assert "a: the action has no next node" in info.value.message


async def test_open_lead_refuses_a_lead_of_another_campaign(services: Services) -> None:
    one, other = await seed(services, GRAPH), await seed(services, GRAPH)
    with pytest.raises(ApplicationError, match="is not in campaign"):
        await ActivityEnvironment().run(
            OutreachActivities(services).open_lead, _opening(one.campaign_id, other.lead_ids[0], one.account_id)
        )


async def test_invalid_account_limits_are_a_permanent_error(services: Services) -> None:
    seeded = await seed(services, GRAPH)
    async with services.database.session() as session:
        account = await session.get(SenderAccount, seeded.account_id)
        assert account is not None
        account.timezone = "Mars/Olympus"
    with pytest.raises(ApplicationError, match="invalid limits") as info:
        await ActivityEnvironment().run(
            OutreachActivities(services).open_lead, _opening(seeded.campaign_id, seeded.lead_ids[0], seeded.account_id)
        )
    assert info.value.non_retryable


async def test_the_execution_record_is_one_row_rewritten_by_retries(services: Services) -> None:
    seeded = await seed(services, GRAPH)
    acts = CampaignExecutionActivities(services)
    env = ActivityEnvironment()
    opening = _opening(seeded.campaign_id, seeded.lead_ids[0], seeded.account_id)
    await env.run(OutreachActivities(services).open_lead, opening)
    await env.run(OutreachActivities(services).open_lead, opening)  # a retried open
    step = StepResult(step=1, node_id="a", kind="action", action="profile_visit", detail={"provider_id": "p"})
    record_input = RecordStepInput(campaign_id=seeded.campaign_id, lead_id=seeded.lead_ids[0], steps=[step])
    await env.run(acts.record_step, record_input)
    await env.run(acts.record_step, record_input)  # a retried write of the same step
    await env.run(
        acts.finish,
        FinishExecutionInput(
            campaign_id=seeded.campaign_id,
            lead_id=seeded.lead_ids[0],
            outcome=LeadOutcome.SUCCEEDED,
            current_step=1,
            finished_at=T0,
            ended_at_node="z",
        ),
    )
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None
    assert (record.status, record.current_step, record.total_steps) == ("completed", 1, 1)
    assert [s["node_id"] for s in record.execution_data["steps"]] == ["a"]
    assert record.execution_data["ended_at_node"] == "z"
    assert record.started_at == T0 and record.completed_at == T0


async def test_open_lead_loads_the_plan_and_begins_the_record_and_finish_stores_the_last_step(
    services: Services,
) -> None:
    """A retried open is one row, and a step sent with ``finish`` lands in the record like a
    ``record_step`` would have put it."""
    seeded = await seed(services, GRAPH)
    env = ActivityEnvironment()
    opening = OpenLeadInput(
        campaign_id=seeded.campaign_id,
        lead_id=seeded.lead_ids[0],
        sender_account_id=seeded.account_id,
        workflow_id="wf-2",
        started_at=T0,
    )
    plan = await env.run(OutreachActivities(services).open_lead, opening)
    await env.run(OutreachActivities(services).open_lead, opening)  # a retried open
    assert [n.id for n in plan.graph.nodes] == ["a", "z"] and plan.lead.first_name == "Ana"
    opened = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert opened is not None
    assert (opened.status, opened.workflow_execution_id, opened.total_steps) == ("in_progress", "wf-2", 1)
    assert opened.execution_data == {"steps": []} and opened.started_at == T0
    step = StepResult(step=1, node_id="a", kind="action", action="profile_visit", detail={"provider_id": "p"})
    finish = FinishExecutionInput(
        campaign_id=seeded.campaign_id,
        lead_id=seeded.lead_ids[0],
        outcome=LeadOutcome.SUCCEEDED,
        current_step=1,
        finished_at=T0,
        ended_at_node="z",
        steps=[step],
    )
    await env.run(CampaignExecutionActivities(services).finish, finish)
    await env.run(CampaignExecutionActivities(services).finish, finish)  # a retried finish
    record = await execution_record(services, seeded.campaign_id, seeded.lead_ids[0])
    assert record is not None
    assert (record.status, record.current_step) == ("completed", 1)
    assert record.execution_data["steps"] == [step.model_dump(mode="json")]


async def test_open_lead_writes_no_record_when_the_plan_cannot_load(services: Services) -> None:
    one, other = await seed(services, GRAPH), await seed(services, GRAPH)
    opening = OpenLeadInput(
        campaign_id=one.campaign_id,
        lead_id=other.lead_ids[0],
        sender_account_id=one.account_id,
        workflow_id="wf-3",
        started_at=T0,
    )
    with pytest.raises(ApplicationError, match="is not in campaign"):
        await ActivityEnvironment().run(OutreachActivities(services).open_lead, opening)
    assert await execution_record(services, one.campaign_id, other.lead_ids[0]) is None


async def test_a_closed_record_keeps_its_first_outcome(services: Services) -> None:
    """``finish`` is first-writer-wins: a lead whose closing task ran again with a stop (the
    race of a stop with its last task) cannot turn ``completed`` into ``stopped``."""
    seeded = await seed(services, GRAPH)
    acts = CampaignExecutionActivities(services)
    env = ActivityEnvironment()
    lead = seeded.lead_ids[0]
    await env.run(OutreachActivities(services).open_lead, _opening(seeded.campaign_id, lead, seeded.account_id))
    for outcome in (LeadOutcome.SUCCEEDED, LeadOutcome.STOPPED):
        finish = FinishExecutionInput(
            campaign_id=seeded.campaign_id, lead_id=lead, outcome=outcome, current_step=1, finished_at=T0
        )
        await env.run(acts.finish, finish)
    record = await execution_record(services, seeded.campaign_id, lead)
    assert record is not None and record.status == "completed"
    assert record.execution_data["outcome"] == "succeeded"


async def test_a_linkedin_action_of_a_paused_campaign_is_refused_before_it_goes_out(services: Services) -> None:
    import dataclasses

    from temporalio.testing import ActivityEnvironment as Env

    from followthrough.processes.campaigns.linkedin_activities import CAMPAIGN_PAUSED, LinkedInActivities
    from followthrough.providers.contracts.linkedin import VisitProfileInput

    seeded = await seed(services, GRAPH)
    async with services.database.session() as session:
        campaign = await session.get(Campaign, seeded.campaign_id)
        assert campaign is not None
        campaign.status = "paused"
    env = Env()
    env.info = dataclasses.replace(env.info, workflow_id=f"campaign-{seeded.campaign_id}-lead-{seeded.lead_ids[0]}")
    visit = VisitProfileInput(account_id="acct", identifier="someone", idempotency_key="k-paused")
    with pytest.raises(ApplicationError) as refused:
        await env.run(LinkedInActivities(services).visit_profile, visit)
    assert refused.value.type == CAMPAIGN_PAUSED
    assert await services.providers.outbox.get("k-paused") is None  # refused where the row is opened

    async with services.database.session() as session:
        campaign = await session.get(Campaign, seeded.campaign_id)
        assert campaign is not None
        campaign.status = "active"
    await env.run(LinkedInActivities(services).visit_profile, visit)  # resumed: it goes out
    entry = await services.providers.outbox.get("k-paused")
    assert entry is not None and entry.status == "sent"
