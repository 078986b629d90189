"""InboundMessageWorkflow (``inbound-{provider message id}``): what one inbound message means
for the lead's other workflows, done durably.

The webhook classifies the message, starts this workflow and answers: a start is durable, so
from then on nothing is lost if the API process dies. In order:

0. ``inbound.record`` (a local activity: no round trip through the task queue) stores the
   message, its lead (created if the phone is new) and, for a STOP, the opt-out, before anything
   else happens: a follow-up checks the lead's contact state before it sends. Then the execution
   is tagged with ``LeadId`` and its owner ``OrganizationId`` (it starts without an owner, so no
   organization lists it until its owner is known; the operator sees it). A caller that recorded
   the message itself passes its ``lead`` and this step is skipped;
1. the lead's follow-ups (deterministic ids ``followup-{lead}-{type}``) get ``lead_replied``
   (or ``opted_out``) from a local activity, through the client; one that is not running is
   skipped, at the cost of one "not found" read (a signal from the workflow cost a transfer
   task and two history events per id, five ids per message). Meanwhile a local activity over
   visibility finds the lead's running ``LeadOutreachWorkflow``s;
2. then, together: "I'll look later" starts the ``said_later`` follow-up as an abandoned
   child, so it outlives this workflow (if one is already running it keeps its timer: no twin);
   the outreach workflows get ``lead_replied`` (they end ``goal_reached``), or ``stop`` on an
   opt-out; a lead's first message (``new_lead``) starts the ``lead_created`` integration sync
   (HubSpot contact, Meta ``Lead``, memory) as an abandoned child, once per lead.

Each step is a few commands in one workflow task (no activity task queue round trips), so a
burst of messages drains at the rate the server completes workflow tasks.

The rule (which signal, which ids) is :func:`followthrough.processes.inbound.rules.plan`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.models import Lead, LeadRepliedSignal
    from followthrough.processes.campaigns.graph import StopSignal
    from followthrough.processes.followups.rules import FollowUpInput
    from followthrough.processes.followups.workflow import start_followup
    from followthrough.processes.inbound.activities import InboundActivities
    from followthrough.processes.inbound.rules import (
        FindOutreachInput,
        InboundMessageInput,
        InboundMessageResult,
        RecordInbound,
        SignalFollowups,
        plan,
    )
    from followthrough.processes.integrations.rules import IntegrationSyncInput
    from followthrough.processes.integrations.workflow import start_sync
    from followthrough.temporal.policies import STORE_CALL_TIMEOUT, STORE_RETRY
    from followthrough.temporal.steps import Activity

A = TypeVar("A")
R = TypeVar("R")

_LEAD_ID = SearchAttributeKey.for_keyword("LeadId")
_OWNER = SearchAttributeKey.for_keyword("OrganizationId")


@workflow.defn
class InboundMessageWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "inbound"

    @workflow.run
    async def run(self, input: InboundMessageInput) -> InboundMessageResult:
        lead, new_lead = input.lead, input.new_lead
        stale = False
        if lead is None:
            assert input.phone is not None  # the input's validator: a sender or a lead
            recorded = await _store_call(
                InboundActivities.record,
                RecordInbound(
                    message_id=input.message_id,
                    phone=input.phone,
                    name=input.name,
                    text=input.text,
                    received_at=input.received_at,
                    opt_out=input.intent == "opt_out",
                ),
            )
            workflow.upsert_search_attributes(
                [_LEAD_ID.value_set(recorded.lead.id), _OWNER.value_set(recorded.organization)]
            )
            lead, new_lead, stale = recorded.lead, recorded.new_lead, recorded.stale
        todo = plan(input, lead.id)
        result = InboundMessageResult(
            message_id=input.message_id,
            lead_id=lead.id,
            intent=input.intent,
            followup_signal=todo.followup_signal,
            outreach_signal=todo.outreach_signal,
            stale=stale,
        )
        if stale:
            return result
        # Two local activities in one workflow task: the follow-ups hear the message by their ids
        # (through the client: an id nothing runs under costs no history event), and the outreach
        # workflows are looked up.
        signalled, found = await asyncio.gather(
            _store_call(
                InboundActivities.signal_followups,
                SignalFollowups(
                    workflow_ids=todo.followup_ids,
                    signal=todo.followup_signal,
                    message_id=input.message_id,
                    received_at=input.received_at,
                    reason=f"inbound {input.channel} message {input.message_id}",
                ),
            ),
            _store_call(InboundActivities.find_outreach, FindOutreachInput(lead_id=lead.id, phone=lead.phone)),
        )
        result.followups_signalled = signalled.workflow_ids
        result.outreach_found = found.workflow_ids
        outreach_arg: Any = (
            StopSignal(complete_current_executions=False)
            if todo.outreach_signal == "stop"
            else LeadRepliedSignal(message_id=input.message_id, channel=input.channel)
        )

        async def said_later() -> None:
            if todo.start_said_later:  # after the other follow-ups heard the reply
                result.said_later = todo.start_said_later
                result.said_later_started = await self._start_said_later(lead, input, todo.start_said_later)

        async def outreach() -> None:
            result.outreach_signalled = await _signal_all(found.workflow_ids, todo.outreach_signal, outreach_arg)

        async def sync() -> None:
            if new_lead and input.sync_integrations:
                result.integration_sync = await start_sync(
                    IntegrationSyncInput(
                        lead=lead, event="lead_created", event_id=lead.id, occurred_at=input.received_at
                    )
                )

        await asyncio.gather(said_later(), outreach(), sync())
        return result

    async def _start_said_later(self, lead: Lead, input: InboundMessageInput, workflow_id: str) -> bool:
        """False when one is running already: it keeps its timer."""
        return await start_followup(
            FollowUpInput(lead=lead, type="said_later", triggered_at=input.received_at), id=workflow_id
        )


async def _store_call(activity: Activity[A, R], arg: A) -> R:
    """One of this workflow's local activities: each is a store or Temporal call of a moment."""
    result: R = await workflow.execute_local_activity_method(
        activity,  # type: ignore[arg-type]  # the overloads spell out each arity
        arg,
        start_to_close_timeout=STORE_CALL_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
    return result


async def _signal_all(workflow_ids: list[str], name: str, arg: Any) -> list[str]:
    """Signal each workflow; returns those that took it (the others are not running)."""

    async def one(workflow_id: str) -> str | None:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(name, arg)
        except ApplicationError as err:
            # ExternalWorkflowExecutionNotFound: never started, or closed meanwhile.
            if err.type != "ExternalWorkflowExecutionNotFound":
                workflow.logger.warning("%s not signalled %s: %s", workflow_id, name, err)
            return None
        return workflow_id

    return [i for i in await asyncio.gather(*(one(i) for i in workflow_ids)) if i is not None]
