"""The lead workflow's reads and its slot requests to the sender's coordinator.

``outreach.open_lead`` reads the campaign's graph, the lead and the sender account in one go
(the graph is never in the workflow's input) and begins the lead's execution record. ``outreach.acquire_slot`` asks
``sender-{account_id}`` for a slot with update-with-start, so the first request of a sender
starts its :class:`~followthrough.processes.campaigns.sender.SenderWorkflow`; the account's limits are
read from the store on every request, so an edited account takes effect at the next action.
"""

from __future__ import annotations

import pydantic
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from followthrough.config import DEFAULT_ORGANIZATION
from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.campaigns.graph import ActionType, parse_graph, total_steps
from followthrough.processes.campaigns.records import begin_in
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import (
    AcquireSlotRequest,
    ReleaseSlotSignal,
    SenderInput,
    SenderLimits,
    SlotGrant,
    limits_from_account,
    sender_workflow_id,
)
from followthrough.processes.campaigns.steps import (
    AcquireSlotInput,
    BeginExecutionInput,
    LeadPlan,
    LeadProfile,
    LoadPlanInput,
    OpenLeadInput,
    ReleaseSlotInput,
    SenderProfile,
)
from followthrough.services import Services
from followthrough.store.models import Campaign, CampaignLead, SenderAccount


def sender_limits(account: SenderAccount) -> SenderLimits:
    try:
        return limits_from_account(
            timezone=account.timezone,
            working_hours=account.working_hours,
            working_days=account.working_days,
            daily_limits=account.daily_limits,
            weekly_invitation_limit=account.weekly_invitation_limit,
            min_action_spacing_seconds=account.min_action_spacing_seconds,
            max_action_spacing_seconds=account.max_action_spacing_seconds,
        )
    except pydantic.ValidationError as exc:
        raise ValidationError(f"sender account {account.id} has invalid limits: {exc}") from None


def sender_profile(account: SenderAccount) -> SenderProfile:
    return SenderProfile(
        account_id=account.id,
        provider_account_id=account.provider_account_id,
        status=account.status,
        limits=sender_limits(account),
    )


class OutreachActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="outreach.open_lead")
    async def open_lead(self, input: OpenLeadInput) -> LeadPlan:
        """The graph, the lead and the sender, then the execution record begun (``in_progress``,
        or reset for this workflow run), in one (local) activity and one transaction. A missing
        record or a bad graph is permanent, and fails it before any record is written."""
        where = LoadPlanInput(
            campaign_id=input.campaign_id, lead_id=input.lead_id, sender_account_id=input.sender_account_id
        )
        with as_temporal_errors():
            for _ in range(2):  # a concurrent begin of the same record wins once; then update
                try:
                    async with self._services.database.session() as session:
                        plan = await _plan_in(session, where)
                        await begin_in(
                            await session.connection(),
                            BeginExecutionInput(
                                campaign_id=input.campaign_id,
                                lead_id=input.lead_id,
                                workflow_id=input.workflow_id,
                                total_steps=total_steps(plan.graph),
                                started_at=input.started_at,
                            ),
                        )
                    return plan
                except IntegrityError:
                    continue
        raise RuntimeError("could not create the execution record")  # pragma: no cover - retried by Temporal

    @activity.defn(name="outreach.acquire_slot")
    async def acquire_slot(self, input: AcquireSlotInput) -> SlotGrant:
        """A slot from the sender's coordinator (started on first use); never refuses, the
        slot may be days ahead. A sender with lifted limits gets ``not_before`` at once."""
        with as_temporal_errors():
            async with self._services.database.session() as session:
                account = await session.get(SenderAccount, input.account_id)
            if account is None:
                raise ValidationError(f"sender account {input.account_id} not found")
            limits = sender_limits(account)
            owner = account.organization_id or DEFAULT_ORGANIZATION
        action = ActionType(input.action)
        if limits.unlimited:
            day = input.not_before.astimezone(limits.window.tz).date()
            year, week, _ = day.isocalendar()
            return SlotGrant(
                request_key=input.request_key,
                action=action,
                at=input.not_before,
                day=day.isoformat(),
                week=f"{year}-W{week:02d}",
            )
        info = activity.info()
        start = WithStartWorkflowOperation(
            SenderWorkflow.run,
            SenderInput(account_id=input.account_id, limits=limits),
            id=sender_workflow_id(input.account_id),
            task_queue=info.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # The coordinator belongs to its account's organization, like every execution.
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SearchAttributeKey.for_keyword("OrganizationId"), owner),
                    SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowFamily"), "sender"),
                ]
            ),
        )
        request = AcquireSlotRequest(
            request_key=input.request_key, action=action, not_before=input.not_before, limits=limits
        )
        try:
            return await activity.client().execute_update_with_start_workflow(
                SenderWorkflow.acquire, request, start_workflow_operation=start, id=input.request_key[:400]
            )
        except WorkflowUpdateFailedError as exc:
            # The validator refused the request: retrying the same request cannot help.
            raise ValidationError(f"sender refused the slot request: {exc.cause}") from None

    @activity.defn(name="outreach.release_slot")
    async def release_slot(self, input: ReleaseSlotInput) -> None:
        """Give an unused slot back (best effort: a coordinator that is gone has nothing to free)."""
        handle = activity.client().get_workflow_handle(sender_workflow_id(input.account_id))
        try:
            await handle.signal(SenderWorkflow.release, ReleaseSlotSignal(grant=input.grant))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


async def _plan_in(session: AsyncSession, input: LoadPlanInput) -> LeadPlan:
    """The graph, the lead and the sender, read in the caller's transaction; a missing record or
    a bad graph is a permanent ValidationError."""
    campaign = await session.get(Campaign, input.campaign_id)
    lead = await session.get(CampaignLead, input.lead_id)
    account = await session.get(SenderAccount, input.sender_account_id)
    if campaign is None:
        raise ValidationError(f"campaign {input.campaign_id} not found")
    if lead is None or lead.campaign_id != input.campaign_id:
        raise ValidationError(f"lead {input.lead_id} is not in campaign {input.campaign_id}")
    if account is None:
        raise ValidationError(f"sender account {input.sender_account_id} not found")
    graph, faults = parse_graph(campaign.graph)
    if graph is None:
        raise ValidationError(
            f"campaign {campaign.id} has an invalid graph: "
            + "; ".join(f"{f.node_id or 'graph'}: {f.message}" for f in faults)
        )
    profile = LeadProfile(
        lead_id=lead.id,
        linkedin_id=lead.linkedin_id,
        linkedin_url=lead.linkedin_url,
        first_name=lead.first_name,
        last_name=lead.last_name,
        headline=lead.headline,
        company=lead.company,
        email=lead.email,
        phone=lead.phone,
        data=dict(lead.data or {}),
    )
    return LeadPlan(graph=graph, lead=profile, sender=sender_profile(account))
