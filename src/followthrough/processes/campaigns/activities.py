"""The campaign orchestrator's side effects: read a page of leads, check a campaign can start,
record its status, and look up lead workflows that did not report.

Leads are read a page at a time by position (``position > cursor``), so the orchestrator's
payloads never hold the lead list, and only ids leave the store: no personal data enters the
orchestrator's history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.campaigns.graph import LeadOutreachInput
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.seats import (
    LEAD_WORKFLOW,
    CheckStartInput,
    LeadExecution,
    LeadExecutionsInput,
    LeadPage,
    LeadRef,
    LoadLeadsInput,
    SetCampaignStatusInput,
    StartLeadsInput,
    StartLeadsResult,
    lead_search_attributes,
    lead_workflow_id,
    orchestrator_workflow_id,
    outcome_from_close_status,
)
from followthrough.services import Services

if TYPE_CHECKING:
    from followthrough.store.models import Campaign, SenderAccount
    from followthrough.store.repositories.campaigns import CampaignLeads, Campaigns

#: describe() calls in flight at once when looking up many lead workflows.
_LOOKUP_CONCURRENCY = 20
#: Lead workflow starts in flight at once from one ``start_leads`` batch.
_START_CONCURRENCY = 50
#: A lead's workflow task timeout. Its first and last tasks run a store call as a local
#: activity (the record's begin, its close with the report), which waits for the store's one
#: writer under load: at 1,000 leads on a loaded box the last task took 5-9 s in every lead
#: and passed the default 10 s in one lead of ten, so the server timed it out and the lead ran
#: it again from a replay (three more events, the work twice). Past 80 % of this the SDK
#: heartbeats the task; a lost worker's task is still retried within it.
LEAD_TASK_TIMEOUT = timedelta(seconds=30)
_MEMO_KEY = "started_by"


class CampaignActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    # The repositories, built on first use (starting and looking up leads touches no store).
    @cached_property
    def _campaigns(self) -> Campaigns:
        from followthrough.store.repositories.campaigns import Campaigns

        return Campaigns(self._services.database)

    @cached_property
    def _leads(self) -> CampaignLeads:
        from followthrough.store.repositories.campaigns import CampaignLeads

        return CampaignLeads(self._services.database)

    @activity.defn(name="campaigns.load_leads")
    async def load_leads(self, input: LoadLeadsInput) -> LeadPage:
        rows, total = await self._leads.positions(input.campaign_id, input.after_position, input.limit + 1)
        leads = [LeadRef(lead_id=lead_id, position=position) for lead_id, position in rows[: input.limit]]
        return LeadPage(leads=leads, total=total, has_more=len(rows) > input.limit)

    @activity.defn(name="campaigns.check_start")
    async def check_start(self, input: CheckStartInput) -> None:
        """Refuse (non-retryable ValidationError) a campaign that cannot run."""
        with as_temporal_errors():
            campaign, account = await self._campaigns.with_sender(input.campaign_id, input.sender_account_id)
            problem = start_problem(campaign, account, input.organization_id)
            if problem is not None:
                raise ValidationError(problem)

    @activity.defn(name="campaigns.set_status")
    async def set_status(self, input: SetCampaignStatusInput) -> None:
        # "running" is the orchestrator's start: a pause the control stored meanwhile (it writes
        # the store before signalling) stands. A campaign deleted meanwhile: nothing to record.
        await self._campaigns.record_run_status(
            input.campaign_id, input.status, workflow_id=orchestrator_workflow_id(input.campaign_id)
        )

    @activity.defn(name="campaigns.lead_executions")
    async def lead_executions(self, input: LeadExecutionsInput) -> list[LeadExecution]:
        """Whether each lead's workflow is running, and how it ended if it has closed."""
        client = activity.client()
        gate = asyncio.Semaphore(_LOOKUP_CONCURRENCY)

        async def one(lead_id: str) -> LeadExecution:
            async with gate:
                execution, _ = await _lead_execution(client, input.campaign_id, lead_id)
                return execution

        return list(await asyncio.gather(*(one(lead_id) for lead_id in input.lead_ids)))

    @activity.defn(name="campaigns.start_leads")
    async def start_leads(self, input: StartLeadsInput) -> StartLeadsResult:
        """Start a batch of lead workflows (``campaign-{campaign}-lead-{lead}``), a few dozen at
        a time, and say which were already there.

        One activity per batch instead of one child workflow per lead: the orchestrator's
        history gets one result per batch and one ``lead_finished`` signal per lead, instead of
        an initiated, a started and a completed event per lead, each a separate write to the
        one execution every lead goes through. A lead id that exists is never started twice
        (REJECT_DUPLICATE, FAIL on a running one); the memo's ``started_by`` tells this batch's
        own starts (from an attempt that timed out) from an earlier campaign run's. No
        ``execution_timeout``: the lead keeps its 30 days itself (``LEAD_DEADLINE``), since a
        server timeout is a timer row per lead that stays behind the lead it bounds.
        """
        client = activity.client()
        gate = asyncio.Semaphore(_START_CONCURRENCY)
        result = StartLeadsResult()

        async def one(lead_id: str) -> None:
            workflow_id = lead_workflow_id(input.campaign_id, lead_id)
            async with gate:
                try:
                    await client.start_workflow(
                        LEAD_WORKFLOW,
                        LeadOutreachInput(
                            campaign_id=input.campaign_id,
                            organization_id=input.organization_id,
                            lead_id=lead_id,
                            sender_account_id=input.sender_account_id,
                            parent_workflow_id=input.parent_workflow_id,
                        ),
                        id=workflow_id,
                        task_queue=input.task_queue,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                        task_timeout=LEAD_TASK_TIMEOUT,
                        # The lead's first task comes back in the start's answer when this
                        # worker polls its queue (as it does by default): no trip through the
                        # server's task queue, and the server need not load the new execution
                        # again to hand that task out.
                        request_eager_start=True,
                        memo={_MEMO_KEY: input.started_by},
                        search_attributes=(
                            lead_search_attributes(
                                input.campaign_id, input.organization_id, lead_id, LeadOutreachWorkflow.FAMILY
                            )
                            if input.tag_leads
                            else None
                        ),
                    )
                except WorkflowAlreadyStartedError:
                    execution, started_by = await _lead_execution(client, input.campaign_id, lead_id)
                    if started_by == input.started_by:
                        result.started.append(lead_id)
                    else:
                        result.existing.append(execution)
                    return
                result.started.append(lead_id)

        await asyncio.gather(*(one(lead_id) for lead_id in input.lead_ids))
        order = {lead_id: i for i, lead_id in enumerate(input.lead_ids)}  # stable: the batch's order
        result.started.sort(key=order.__getitem__)
        result.existing.sort(key=lambda e: order[e.lead_id])
        return result


async def _lead_execution(client: Client, campaign_id: str, lead_id: str) -> tuple[LeadExecution, str | None]:
    """A lead workflow's state (running, or its outcome) and the batch that started it."""
    handle = client.get_workflow_handle(lead_workflow_id(campaign_id, lead_id))
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return LeadExecution(lead_id=lead_id, running=False, outcome="failed"), None
        raise
    memo = await desc.memo()
    started_by = memo.get(_MEMO_KEY) if isinstance(memo, dict) else None
    if desc.status == WorkflowExecutionStatus.RUNNING:
        return LeadExecution(lead_id=lead_id, running=True), started_by
    status = desc.status.name if desc.status else "FAILED"
    result: Any = None
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result(rpc_timeout=None)
        if hasattr(result, "model_dump"):
            result = result.model_dump(mode="json")
    outcome = outcome_from_close_status(status, result)
    return LeadExecution(lead_id=lead_id, running=False, outcome=outcome), started_by


def start_problem(campaign: Campaign | None, account: SenderAccount | None, organization_id: str) -> str | None:
    """Why this campaign cannot start, or None. Shared by the API (422) and the workflow."""
    if campaign is None:
        return "campaign not found"
    if campaign.organization_id and campaign.organization_id != organization_id:
        return "campaign belongs to another organization"
    if account is None:
        return "sender account not found"
    if account.status != "connected":
        return f"sender account {account.display_name or account.id} is not connected (status {account.status})"
    return None
