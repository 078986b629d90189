"""The lead workflow's reads and its slot requests to the sender's coordinator.

``outreach.open_lead`` reads the campaign's graph, the lead and the sender account in one go
(the graph is never in the workflow's input) and begins the lead's execution record. ``outreach.acquire_slot`` asks
``sender-{account_id}`` for a slot: the requests a worker has for one sender at a time go out
together in one ``acquire_many`` update-with-start (:mod:`~followthrough.processes.campaigns.grants`),
so the first request of a sender starts its
:class:`~followthrough.processes.campaigns.sender.SenderWorkflow` and a burst of leads never meets
Temporal's limit of in-flight updates. The account's limits are read from the store on every
request, so an edited account takes effect at the next action. The records are read through
store repositories imported at call time: importing this module (the lead workflow does) loads
no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pydantic
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from followthrough.config import DEFAULT_ORGANIZATION
from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.campaigns.grants import SlotBatcher
from followthrough.processes.campaigns.graph import ActionType, parse_graph, total_steps
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import (
    AcquireSlotsRequest,
    ReleaseSlotSignal,
    SenderInput,
    SenderLimits,
    SlotGrant,
    SlotGrants,
    SlotRequest,
    limits_from_account,
    sender_workflow_id,
)
from followthrough.processes.campaigns.steps import (
    AcquireSlotInput,
    BeginExecutionInput,
    LeadPlan,
    LeadProfile,
    OpenLeadInput,
    ReleaseSlotInput,
    SenderProfile,
)
from followthrough.temporal.client import signal_if_running

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported when an activity first runs, not with the workflow
    from temporalio.client import Client

    from followthrough.services import Services
    from followthrough.store.database import SyncConnection
    from followthrough.store.models import SenderAccount
    from followthrough.store.repositories.lead_plans import LeadRecords


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
        #: One per worker process: concurrent slot requests for a sender share one update.
        self.slot_batches = SlotBatcher()

    @activity.defn(name="outreach.open_lead")
    async def open_lead(self, input: OpenLeadInput) -> LeadPlan:
        """The graph, the lead and the sender, then the execution record begun (``in_progress``,
        or reset for this workflow run), in one (local) activity and one transaction. A missing
        record or a bad graph is permanent, and fails it before any record is written."""
        from followthrough.processes.campaigns.records import begin_in
        from followthrough.store.repositories.lead_plans import LeadPlans

        def begin(conn: SyncConnection, plan: LeadPlan) -> None:
            begin_in(
                conn,
                BeginExecutionInput(
                    campaign_id=input.campaign_id,
                    lead_id=input.lead_id,
                    workflow_id=input.workflow_id,
                    total_steps=total_steps(plan.graph),
                    started_at=input.started_at,
                ),
            )

        with as_temporal_errors():
            return await LeadPlans(self._services.database).open(
                campaign_id=input.campaign_id,
                lead_id=input.lead_id,
                sender_account_id=input.sender_account_id,
                plan=lambda records: _plan_of(records, input),
                begin=begin,
            )

    @activity.defn(name="outreach.acquire_slot")
    async def acquire_slot(self, input: AcquireSlotInput) -> SlotGrant:
        """A slot from the sender's coordinator (started on first use); never refuses, the
        slot may be days ahead. A sender with lifted limits gets ``not_before`` at once.

        The request goes out with the others this worker has for the same sender, in one
        ``acquire_many`` update (see :mod:`~followthrough.processes.campaigns.grants`); its
        ``request_key`` makes it idempotent: a retry gets the slot granted the first time."""
        from followthrough.store.repositories.senders import SenderAccounts

        with as_temporal_errors():
            account = await SenderAccounts(self._services.database).get(input.account_id)
            if account is None:
                raise ValidationError(f"sender account {input.account_id} not found")
            limits = sender_limits(account)
            owner = account.organization_id or DEFAULT_ORGANIZATION
            if input.not_before.tzinfo is None:
                raise ValidationError("not_before must be timezone-aware (UTC)")
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
        client, task_queue = activity.client(), activity.info().task_queue

        async def send(batch: AcquireSlotsRequest) -> SlotGrants:
            return await _acquire_many(client, task_queue, input.account_id, owner, batch)

        request = SlotRequest(request_key=input.request_key[:400], action=action, not_before=input.not_before)
        try:
            return await self.slot_batches.acquire(sender_workflow_id(input.account_id), request, limits, send)
        except WorkflowUpdateFailedError as exc:
            # The validator refused the batch: retrying the same request cannot help.
            raise ValidationError(f"sender refused the slot request: {exc.cause}") from None

    @activity.defn(name="outreach.release_slot")
    async def release_slot(self, input: ReleaseSlotInput) -> None:
        """Give an unused slot back (best effort: a coordinator that is gone has nothing to free)."""
        await signal_if_running(
            activity.client(),
            sender_workflow_id(input.account_id),
            SenderWorkflow.release,
            ReleaseSlotSignal(grant=input.grant),
        )


async def _acquire_many(
    client: Client, task_queue: str, account_id: str, owner: str, batch: AcquireSlotsRequest
) -> SlotGrants:
    """One ``acquire_many`` update, with update-with-start: the first request of a sender
    starts its coordinator, under its account's organization like every execution."""
    start = WithStartWorkflowOperation(
        SenderWorkflow.run,
        SenderInput(account_id=account_id, limits=batch.limits),
        id=sender_workflow_id(account_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(SearchAttributeKey.for_keyword("OrganizationId"), owner),
                SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowFamily"), SenderWorkflow.FAMILY),
            ]
        ),
    )
    # A fresh update id per batch: a request may come again in another batch (its retry), and
    # the sender answers it by its request key, not by the update's id.
    return await client.execute_update_with_start_workflow(
        SenderWorkflow.acquire_many, batch, start_workflow_operation=start
    )


def _plan_of(records: LeadRecords, input: OpenLeadInput) -> LeadPlan:
    """The lead's plan from its records; a missing record or a bad graph is a permanent
    ValidationError (raised before the execution record is written)."""
    campaign, lead, account = records.campaign, records.lead, records.account
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
