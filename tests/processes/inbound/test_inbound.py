"""InboundMessageWorkflow on the time-skipping server, with the real FollowUpWorkflow and
LeadOutreachWorkflow (their store activities on the per-test SQLite store, fake providers).

The time-skipping server has no visibility, so ``inbound.find_outreach`` is a fake here that
answers the outreach ids a test gives it; the real activity is tested on the dev server
(``tests/activities/test_inbound_activities.py``, ``tests/e2e/test_sales_assistant.py``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.leads.activities import LeadActivities
from followthrough.leads.models import Lead
from followthrough.processes.campaigns.graph import LeadOutcome, LeadOutreachInput, LeadOutreachResult
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.records import CampaignExecutionActivities
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.processes.followups.rules import FollowUpInput, FollowUpStatus, FollowUpType
from followthrough.processes.followups.workflow import FollowUpWorkflow
from followthrough.processes.inbound.activities import InboundActivities
from followthrough.processes.inbound.rules import (
    FindOutreachInput,
    InboundMessageInput,
    InboundMessageResult,
    OutreachFound,
)
from followthrough.processes.inbound.workflow import InboundMessageWorkflow
from followthrough.services import Services
from followthrough.store.repositories.leads import Leads
from tests.processes.bookings.test_booking import FakeIntegrationSync
from tests.processes.campaigns.outreach_support import FakeProviders, seed

#: Wait ten days, then end: a lead workflow that is waiting when the lead replies.
WAIT_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "wait", "kind": "delay", "duration": 10, "unit": "calendar"},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "wait", "target": "done"}],
}


def a_lead() -> Lead:
    return Lead(id=f"lead-{uuid.uuid4().hex[:8]}", phone="+5215512345678", name="Ana", language="es")


@dataclass
class Outreach:
    """The fake ``inbound.find_outreach``: answers ``workflow_ids``, records what it was asked."""

    workflow_ids: list[str] = field(default_factory=list)
    asked: list[FindOutreachInput] = field(default_factory=list)

    def activity(self) -> Callable[..., Any]:
        @activity.defn(name="inbound.find_outreach")
        async def find_outreach(input: FindOutreachInput) -> OutreachFound:
            self.asked.append(input)
            return OutreachFound(workflow_ids=list(self.workflow_ids), lead_ids=[input.lead_id])

        return find_outreach


@dataclass
class Env:
    env: WorkflowEnvironment
    client: Client
    services: Services
    task_queue: str
    providers: FakeProviders
    outreach: Outreach

    async def followup(self, lead: Lead, type: FollowUpType, **kwargs: Any) -> WorkflowHandle[Any, FollowUpStatus]:
        given = FollowUpInput(lead=lead, type=type, triggered_at=await self.now(), **kwargs)
        return await self.client.start_workflow(
            FollowUpWorkflow.run,
            given,
            id=f"followup-{lead.id}-{type}",
            task_queue=self.task_queue,
        )

    async def outreach_lead(self) -> WorkflowHandle[Any, LeadOutreachResult]:
        """A LeadOutreachWorkflow waiting in its ten-day delay; visibility (faked) finds it."""
        seeded = await seed(self.services, WAIT_GRAPH)
        payload = LeadOutreachInput(
            campaign_id=seeded.campaign_id,
            organization_id="org-1",
            lead_id=seeded.lead_ids[0],
            sender_account_id=seeded.account_id,
        )
        handle = await self.client.start_workflow(
            LeadOutreachWorkflow.run,
            payload,
            id=f"campaign-{payload.campaign_id}-lead-{payload.lead_id}",
            task_queue=self.task_queue,
        )
        for _ in range(500):
            if (await handle.query(LeadOutreachWorkflow.status)).state == "waiting":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the lead workflow never reached its delay")
        self.outreach.workflow_ids.append(handle.id)
        return handle

    async def inbound(
        self,
        lead: Lead,
        intent: str,
        message_id: str | None = None,
        received_at: datetime | None = None,
        **extra: Any,
    ) -> InboundMessageResult:
        message_id = message_id or f"wamid.{uuid.uuid4().hex}"
        received_at = received_at or await self.now()
        return await self.client.execute_workflow(
            InboundMessageWorkflow.run,
            InboundMessageInput(message_id=message_id, lead=lead, intent=intent, received_at=received_at, **extra),  # type: ignore[arg-type]
            id=f"inbound-{message_id}",
            task_queue=self.task_queue,
        )

    async def message_from(self, phone: str, text: str, intent: str, message_id: str, **extra: Any) -> Any:
        """A message as the webhook starts it: from a phone; the workflow records it."""
        return await self.client.execute_workflow(
            InboundMessageWorkflow.run,
            InboundMessageInput(
                message_id=message_id,
                phone=phone,
                text=text,
                intent=intent,  # type: ignore[arg-type]
                received_at=await self.now(),
                **extra,
            ),
            id=f"inbound-{message_id}",
            task_queue=self.task_queue,
        )

    async def now(self) -> datetime:
        """The time-skipping server's clock, as the workflows see it."""
        return await self.env.get_current_time()


@asynccontextmanager
async def inbound_env(ts_env: WorkflowEnvironment, services: Services, task_queue: str) -> AsyncIterator[Env]:
    providers, outreach = FakeProviders(), Outreach()
    acts = [
        *activity_methods(OutreachActivities(services)),
        *activity_methods(CampaignExecutionActivities(services)),
        *activity_methods(LeadActivities(services)),
        *providers.activities(),
        outreach.activity(),
        InboundActivities(services).record,  # the real store write of a message from a phone
        InboundActivities(services).signal_followups,  # the real signals, through the client
    ]
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[
            InboundMessageWorkflow,
            FollowUpWorkflow,
            LeadOutreachWorkflow,
            SenderWorkflow,
            FakeIntegrationSync,
        ],
        activities=acts,
    ):
        yield Env(ts_env, ts_env.client, services, task_queue, providers, outreach)


# --- the tests ------------------------------------------------------------------------------
async def test_a_reply_stops_the_followups_and_the_leads_outreach_reaches_its_goal(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    lead = a_lead()
    async with inbound_env(ts_env, services, task_queue) as env:
        demo = await env.now() + timedelta(days=5)
        pre_demo = await env.followup(lead, "pre_demo_24h", demo_start=demo, demo_end=demo + timedelta(minutes=30))
        cold = await env.followup(lead, "cold_lead_reengagement")
        campaign = await env.outreach_lead()

        result = await env.inbound(lead, "reply", message_id="wamid.r1")

        assert sorted(result.followups_signalled) == sorted([pre_demo.id, cold.id])
        assert result.followup_signal == "lead_replied"
        assert (result.outreach_found, result.outreach_signalled) == ([campaign.id], [campaign.id])
        assert result.said_later is None
        for handle in (pre_demo, cold):
            status = await handle.result()
            assert (status.state, status.stopped_by) == ("stopped", "lead_replied")
            assert {s.state for s in status.steps} == {"cancelled"}
        outcome = await campaign.result()
        assert outcome.outcome == LeadOutcome.GOAL_REACHED
    assert env.providers.calls == []  # nothing was sent to the lead by anyone
    assert [(a.lead_id, a.phone) for a in env.outreach.asked] == [(lead.id, lead.phone)]


async def test_said_later_is_started_once_and_stops_the_other_followups(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    lead = a_lead()
    # No clock skipping while we wait on results here: said_later's 12 h timer must stay pending.
    with ts_env.auto_time_skipping_disabled():
        await _said_later_started_once(ts_env, services, task_queue, lead)


async def _said_later_started_once(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str, lead: Lead
) -> None:
    async with inbound_env(ts_env, services, task_queue) as env:
        cold = await env.followup(lead, "cold_lead_reengagement")
        said_at = await env.now()
        first = await env.inbound(lead, "said_later", received_at=said_at)
        second = await env.inbound(lead, "said_later")  # "later" again an hour on, or a twin delivery

        later_id = f"followup-{lead.id}-said_later"
        assert (first.said_later, first.said_later_started) == (later_id, True)
        assert (second.said_later, second.said_later_started) == (later_id, False)
        assert first.followups_signalled == [cold.id]
        assert second.followups_signalled == []  # said_later is not told its own lead replied
        assert (await cold.result()).stopped_by == "lead_replied"

        later = env.client.get_workflow_handle_for(FollowUpWorkflow.run, later_id)
        status = await later.query(FollowUpWorkflow.status)
        await later.terminate("test over")  # 12 h to go; no need to skip the server's clock for everyone
    assert status.state == "running"
    [step] = status.steps
    assert (step.state, step.due_at) == ("pending", said_at + timedelta(hours=12))  # the first message's timer
    assert env.providers.calls == []


async def test_opt_out_tells_the_followups_and_stops_the_outreach(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    lead = a_lead()
    async with inbound_env(ts_env, services, task_queue) as env:
        cold = await env.followup(lead, "cold_lead_reengagement")
        campaign = await env.outreach_lead()
        result = await env.inbound(lead, "opt_out")
        assert (result.followup_signal, result.followups_signalled) == ("opted_out", [cold.id])
        assert (result.outreach_signal, result.outreach_signalled) == ("stop", [campaign.id])
        assert result.said_later is None
        assert (await cold.result()).stopped_by == "opted_out"
        assert (await campaign.result()).outcome == LeadOutcome.STOPPED
    assert env.providers.calls == []


async def test_a_lead_with_nothing_running_is_not_an_error(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    lead = a_lead()
    async with inbound_env(ts_env, services, task_queue) as env:
        env.outreach.workflow_ids.append("campaign-gone-lead-gone")  # visibility lagged: closed since
        result = await env.inbound(lead, "reply")
    assert result.followups_signalled == []
    assert (result.outreach_found, result.outreach_signalled) == (["campaign-gone-lead-gone"], [])
    # the five follow-up ids nothing runs under cost the message's history nothing (a signal from
    # the workflow wrote two events per id); the outreach id visibility found is still told from
    # the workflow, durably
    history = await ts_env.client.get_workflow_handle(f"inbound-{result.message_id}").fetch_history()
    kinds = [event.WhichOneof("attributes") for event in history.events]
    assert kinds.count("signal_external_workflow_execution_initiated_event_attributes") == 1
    assert len(history.events) <= 15, kinds


async def test_a_new_leads_first_message_starts_its_lead_created_sync_once(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """A message from a new phone: the workflow's first activity records it and creates the
    lead, and the lead's first message (only) starts its lead_created sync."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "inbound" / "new_lead_synced.json"
    number = f"+5215{uuid.uuid4().int % 10**8:08d}"
    async with inbound_env(ts_env, services, task_queue) as env:
        message_id = f"wamid.first-{uuid.uuid4().hex[:6]}"
        first = await env.message_from(number, "Hola", "reply", message_id)
        lead = await Leads(services.database).get_by_phone(number)
        assert lead is not None and first.lead_id == lead.id
        assert first.integration_sync == f"integration-{lead.id}-lead_created-{lead.id}"
        synced = await env.client.get_workflow_handle(first.integration_sync).result()
        assert (synced["event"], synced["event_id"], synced["lead"]["id"]) == ("lead_created", lead.id, lead.id)
        later = await env.message_from(number, "¿precio?", "reply", f"wamid.later-{uuid.uuid4().hex[:6]}")
        assert later.lead_id == lead.id  # the lead exists now
        quiet = await env.inbound(a_lead(), "reply", new_lead=True, sync_integrations=False)
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(env.client.get_workflow_handle(f"inbound-{message_id}"), "inbound", "new_lead_synced")
    assert later.integration_sync is None and quiet.integration_sync is None
    assert path.exists()


async def test_an_opt_out_is_recorded_before_any_followup_hears_of_it(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """STOP from a phone: the first activity writes the opt-out, then the follow-ups are told."""
    number = f"+5215{uuid.uuid4().int % 10**8:08d}"
    async with inbound_env(ts_env, services, task_queue) as env:
        first = await env.message_from(number, "Hola", "reply", f"wamid.{uuid.uuid4().hex}")
        stored = await Leads(services.database).get_by_phone(number)
        assert stored is not None and not stored.opted_out
        lead = Lead(id=first.lead_id, phone=number, language="es")
        cold = await env.followup(lead, "cold_lead_reengagement")
        result = await env.message_from(number, "BAJA", "opt_out", f"wamid.{uuid.uuid4().hex}")
        assert (result.followup_signal, result.followups_signalled) == ("opted_out", [cold.id])
        assert (await cold.result()).stopped_by == "opted_out"
        stored = await Leads(services.database).get_by_phone(number)
    assert stored is not None and stored.opted_out and stored.opted_out_at is not None


async def test_a_message_recorded_long_ago_is_not_handled_again(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """A redelivery after the first workflow left the namespace's retention starts a new
    workflow; it finds the message recorded long ago and does nothing (no second said_later)."""
    number = f"+5215{uuid.uuid4().int % 10**8:08d}"
    message_id = f"wamid.{uuid.uuid4().hex}"
    long_ago = datetime.now(UTC) - timedelta(days=3)
    await Leads(services.database).record_message_from(
        number, name=None, provider_message_id=message_id, text="luego", received_at=long_ago, opt_out=False
    )
    async with inbound_env(ts_env, services, task_queue) as env:
        result = await env.client.execute_workflow(
            InboundMessageWorkflow.run,
            InboundMessageInput(
                message_id=message_id, phone=number, text="luego", intent="said_later", received_at=long_ago
            ),
            id=f"inbound-{message_id}",
            task_queue=task_queue,
        )
    assert result.stale and result.said_later is None and result.followups_signalled == []
    assert env.outreach.asked == []


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, services: Services, task_queue: str) -> None:
    """Keeps tests/histories/inbound/said_later.json current only when RECORD_HISTORIES=1: a
    said_later message with one follow-up running and one outreach workflow no longer running."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "inbound" / "said_later.json"
    lead = Lead(id="lead-recorded", phone="+5215512345678", name="Ana", language="es")
    async with inbound_env(ts_env, services, task_queue) as env:
        cold = await env.followup(lead, "cold_lead_reengagement")
        env.outreach.workflow_ids.append("campaign-recorded-lead-gone")
        message_id = f"wamid.recorded-{uuid.uuid4().hex[:6]}"
        result = await env.inbound(lead, "said_later", message_id=message_id)
        assert result.followups_signalled == [cold.id]
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(env.client.get_workflow_handle(f"inbound-{message_id}"), "inbound", "said_later")
        assert (await cold.result()).stopped_by == "lead_replied"
        await env.client.get_workflow_handle(f"followup-{lead.id}-said_later").terminate()  # 12 h to go
    assert path.exists()
