"""A lead's ``campaign_executions`` record written by the lead workflow's activities, on every
back-end: begin, steps, a retried write, the close with its last step, a re-begin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from followthrough.processes.campaigns.graph import LeadOutcome, StepResult
from followthrough.processes.campaigns.records import CampaignExecutionActivities, begin_in
from followthrough.processes.campaigns.steps import BeginExecutionInput, FinishExecutionInput, RecordStepInput
from followthrough.services import Services
from followthrough.store import Database
from followthrough.store.models import CampaignExecution
from tests.processes.campaigns.outreach_support import execution_record
from tests.store.test_campaign_repositories import new_campaign, uid

T0 = datetime(2030, 1, 7, 9, 0, 0, 123456, tzinfo=UTC)


def _services(database: Database) -> Services:
    return cast(Services, SimpleNamespace(database=database))


async def _record(database: Database, campaign_id: str, lead_id: str) -> CampaignExecution:
    row = await execution_record(_services(database), campaign_id, lead_id)
    assert row is not None
    return row


async def _begin(database: Database, begin: BeginExecutionInput) -> None:
    """The record's start, as ``outreach.open_lead`` writes it (in its own transaction here)."""
    await database.run(lambda conn: begin_in(conn, begin))


def _step(n: int, node: str) -> StepResult:
    return StepResult(step=n, node_id=node, kind="action", action="profile_visit", detail={"provider_id": f"p{n}"})


async def test_the_record_follows_the_lead_and_retries_rewrite_it(database: Database) -> None:
    acts = CampaignExecutionActivities(_services(database))
    campaign_id, lead_id = await new_campaign(database), uid("lead")
    begin = BeginExecutionInput(
        campaign_id=campaign_id, lead_id=lead_id, workflow_id="wf-1", total_steps=3, started_at=T0
    )
    await _begin(database, begin)
    opened = await _record(database, campaign_id, lead_id)
    assert (opened.status, opened.current_step, opened.total_steps, opened.workflow_execution_id) == (
        "in_progress",
        0,
        3,
        "wf-1",
    )
    assert opened.execution_data == {"steps": []} and opened.started_at == T0 and opened.completed_at is None
    assert opened.created_at.tzinfo is UTC and opened.id

    await acts.record_step(RecordStepInput(campaign_id=campaign_id, lead_id=lead_id, steps=[_step(2, "b")]))
    # Two steps done back to back come in one call; this one rewrites step 2 with a new detail.
    together = RecordStepInput(campaign_id=campaign_id, lead_id=lead_id, steps=[_step(1, "a"), _step(2, "b2")])
    await acts.record_step(together)
    await acts.record_step(together)  # retried
    stepped = await _record(database, campaign_id, lead_id)
    # In step order, once each, the later write of a step winning.
    assert [s["node_id"] for s in stepped.execution_data["steps"]] == ["a", "b2"]
    assert stepped.current_step == 2 and stepped.updated_at >= opened.updated_at

    await _begin(database, begin)  # a retried begin keeps the steps already recorded
    assert (await _record(database, campaign_id, lead_id)).execution_data == stepped.execution_data

    finish = FinishExecutionInput(
        campaign_id=campaign_id,
        lead_id=lead_id,
        outcome=LeadOutcome.GOAL_REACHED,
        current_step=3,
        finished_at=T0 + timedelta(days=2),
        ended_at_node="c",
        steps=[_step(3, "c")],
    )
    await acts.finish(finish)
    await acts.finish(finish)  # retried
    closed = await _record(database, campaign_id, lead_id)
    assert (closed.current_step, closed.completed_at, closed.started_at) == (3, T0 + timedelta(days=2), T0)
    assert [s["step"] for s in closed.execution_data["steps"]] == [1, 2, 3]
    assert (closed.execution_data["outcome"], closed.execution_data["ended_at_node"]) == ("goal_reached", "c")
    assert closed.status != "in_progress" and closed.id == opened.id  # one row all along


async def test_a_step_or_close_of_a_missing_record_writes_nothing(database: Database) -> None:
    acts = CampaignExecutionActivities(_services(database))
    campaign_id, lead_id = await new_campaign(database), uid("lead")
    await acts.record_step(RecordStepInput(campaign_id=campaign_id, lead_id=lead_id, steps=[_step(1, "a")]))
    await acts.finish(
        FinishExecutionInput(
            campaign_id=campaign_id, lead_id=lead_id, outcome=LeadOutcome.FAILED, current_step=0, finished_at=T0
        )
    )
    async with database.session() as session:
        rows = (
            await session.scalars(select(CampaignExecution).where(CampaignExecution.campaign_id == campaign_id))
        ).all()
    assert rows == []


def test_a_step_write_needs_at_least_one_step() -> None:
    with pytest.raises(ValidationError, match="steps"):
        RecordStepInput(campaign_id="c", lead_id="l", steps=[])
