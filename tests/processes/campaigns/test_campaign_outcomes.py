"""Outcome exactly once, proven with the interleaving forced (README, "What a campaign guarantees").

The real orchestrator runs the real lead workflow on the time-skipping server, with the store
activities on the per-test SQLite store. A lead's action is held open inside its activity (an
``asyncio.Event``) while ``stop`` reaches the lead and the campaign, then let go: the test sees
what the lead reported, what its record says and what the orchestrator counted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.processes.campaigns.activities import CampaignActivities
from followthrough.processes.campaigns.graph import LeadOutcome, LeadOutreachResult, StopSignal
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.orchestrator import CampaignOrchestratorWorkflow
from followthrough.processes.campaigns.records import CampaignExecutionActivities
from followthrough.processes.campaigns.seats import (
    CampaignOrchestratorInput,
    CampaignResult,
    StopCampaignSignal,
    lead_workflow_id,
)
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.providers.contracts.linkedin import Profile, VisitProfileInput
from followthrough.services import Services
from followthrough.temporal.devserver import find_binary
from tests.processes.campaigns.outreach_support import FakeProviders, Seeded, execution_record, seed

#: One action, then the end: the visit is the lead's last action.
ONE_ACTION: dict[str, Any] = {
    "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "visit", "target": "done"}],
}
#: The visit, then a message: a stop during the visit comes before the last action.
TWO_ACTIONS: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi {first_name}"}},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "visit", "target": "hello"}, {"source": "hello", "target": "done"}],
}


class HeldVisit:
    """``linkedin.visit_profile`` held open until ``release``; it does not heartbeat, so a
    cancellation never reaches it: the visit goes out whatever the lead was told meanwhile (a
    provider call already sent cannot be taken back)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    def activity(self) -> Callable[..., Any]:
        @activity.defn(name="linkedin.visit_profile")
        async def visit(input: VisitProfileInput) -> Profile:
            self.calls += 1
            self.started.set()
            await self.release.wait()
            return Profile(provider_id=f"prov-{input.identifier}", public_identifier=input.identifier)

        return visit


@pytest.fixture
async def env(ts_env: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own: lead workflows outlive the orchestrator's run
    here, which may stop a shared server from skipping time (see test_campaign.py)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=ts_env.client.data_converter,
        test_server_existing_path=str(find_binary("temporal-test-server")),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def campaign(
    env: WorkflowEnvironment, services: Services, seeded: Seeded, held: HeldVisit
) -> AsyncIterator[WorkflowHandle[Any, CampaignResult]]:
    """The orchestrator and real lead workflows on one worker, the store activities real, the
    provider actions fakes (the visit held)."""
    tq = f"tq-{uuid.uuid4()}"
    fakes = [a for a in FakeProviders().activities() if a.__name__ != "visit"]  # the held one instead
    async with Worker(
        env.client,
        task_queue=tq,
        workflows=[CampaignOrchestratorWorkflow, LeadOutreachWorkflow, SenderWorkflow],
        activities=[
            *activity_methods(CampaignActivities(services)),
            *activity_methods(OutreachActivities(services)),
            *activity_methods(CampaignExecutionActivities(services)),
            *fakes,
            held.activity(),
        ],
    ):
        yield await env.client.start_workflow(
            CampaignOrchestratorWorkflow.run,
            CampaignOrchestratorInput(
                campaign_id=seeded.campaign_id,
                organization_id="org-1",
                sender_account_id=seeded.account_id,
                max_concurrent_leads=1,
                lead_processing_delay_seconds=0,
                tag_leads=False,  # the time-skipping server has no custom search attributes
            ),
            id=f"campaign-{seeded.campaign_id}",
            task_queue=tq,
        )


async def reports(handle: WorkflowHandle[Any, Any]) -> int:
    """How many ``lead_finished`` signals the orchestrator received."""
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == "lead_finished"
    )


async def test_a_stop_during_the_last_action_leaves_the_lead_succeeded_and_counted_once(
    env: WorkflowEnvironment, services: Services
) -> None:
    held = HeldVisit()
    seeded = await seed(services, ONE_ACTION)
    lead_id = seeded.lead_ids[0]
    async with campaign(env, services, seeded, held) as handle:
        await asyncio.wait_for(held.started.wait(), 10)
        lead = env.client.get_workflow_handle_for(
            LeadOutreachWorkflow.run, lead_workflow_id(seeded.campaign_id, lead_id)
        )
        await lead.signal(LeadOutreachWorkflow.stop, StopSignal(complete_current_executions=False))
        await handle.signal(CampaignOrchestratorWorkflow.stop, StopCampaignSignal(complete_current_executions=False))
        await asyncio.sleep(0.3)  # both stops delivered while the visit is still out
        held.release.set()
        lead_result: LeadOutreachResult = await lead.result()
        result = await handle.result()
        signalled = await reports(handle)
    assert held.calls == 1
    assert lead_result.outcome == LeadOutcome.SUCCEEDED
    record = await execution_record(services, seeded.campaign_id, lead_id)
    assert record is not None and record.status == "completed"
    assert signalled == 1
    assert result.state == "stopped"
    assert (result.totals.succeeded, result.totals.stopped, result.totals.failed) == (1, 0, 0)


async def test_a_lead_stopped_before_its_last_action_is_reported_once_as_stopped(
    env: WorkflowEnvironment, services: Services
) -> None:
    held = HeldVisit()
    seeded = await seed(services, TWO_ACTIONS)
    lead_id = seeded.lead_ids[0]
    async with campaign(env, services, seeded, held) as handle:
        await asyncio.wait_for(held.started.wait(), 10)
        await handle.signal(CampaignOrchestratorWorkflow.stop, StopCampaignSignal(complete_current_executions=False))
        lead = env.client.get_workflow_handle_for(
            LeadOutreachWorkflow.run, lead_workflow_id(seeded.campaign_id, lead_id)
        )
        await asyncio.sleep(0.3)
        held.release.set()
        lead_result: LeadOutreachResult = await lead.result()
        result = await handle.result()
        signalled = await reports(handle)
    assert lead_result.outcome == LeadOutcome.STOPPED
    assert [s.node_id for s in lead_result.steps] == ["visit"]  # the message never went out
    record = await execution_record(services, seeded.campaign_id, lead_id)
    assert record is not None and record.status == "stopped"
    assert signalled == 1
    assert (result.totals.succeeded, result.totals.stopped, result.totals.failed) == (0, 1, 0)
