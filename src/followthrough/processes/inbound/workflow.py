"""InboundMessageWorkflow (``inbound-{provider message id}``): what one inbound message means
for the lead's other workflows, done durably.

The webhook records and classifies the message, starts this workflow and answers; from then on
nothing is lost if the API process dies. In order:

1. the lead's follow-ups (deterministic ids ``followup-{lead}-{type}``) get ``lead_replied``
   (or ``opted_out``); one that is not running is skipped;
2. "I'll look later" starts the ``said_later`` follow-up as an abandoned child, so it outlives
   this workflow; if one is already running it keeps its timer (no twin);
3. the lead's running ``LeadOutreachWorkflow``s, found by an activity over visibility, get
   ``lead_replied`` (they end ``goal_reached``), or ``stop`` on an opt-out;
4. a lead's first message (``new_lead``) starts the ``lead_created`` integration sync (HubSpot
   contact, Meta ``Lead``, memory) as an abandoned child, once per lead.

The rule (which signal, which ids) is :func:`followthrough.processes.inbound.rules.plan`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.models import LeadRepliedSignal
    from followthrough.processes.campaigns.graph import StopSignal
    from followthrough.processes.followups.rules import FollowUpInput, OptedOutSignal
    from followthrough.processes.inbound.activities import InboundActivities
    from followthrough.processes.inbound.rules import (
        FindOutreachInput,
        InboundMessageInput,
        InboundMessageResult,
        OutreachFound,
        plan,
    )
    from followthrough.processes.integrations.rules import IntegrationSyncInput
    from followthrough.processes.integrations.workflow import start_sync
    from followthrough.temporal.children import start_abandoned
    from followthrough.temporal.policies import STORE_CALL_TIMEOUT, STORE_RETRY


@workflow.defn
class InboundMessageWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "inbound"

    @workflow.run
    async def run(self, input: InboundMessageInput) -> InboundMessageResult:
        todo = plan(input)
        result = InboundMessageResult(
            message_id=input.message_id,
            lead_id=input.lead.id,
            intent=input.intent,
            followup_signal=todo.followup_signal,
            outreach_signal=todo.outreach_signal,
        )
        followup_arg: Any = (
            OptedOutSignal(reason=f"inbound {input.channel} message {input.message_id}")
            if todo.followup_signal == "opted_out"
            else LeadRepliedSignal(message_id=input.message_id, received_at=input.received_at)
        )
        result.followups_signalled = await _signal_all(todo.followup_ids, todo.followup_signal, followup_arg)

        if todo.start_said_later:
            result.said_later = todo.start_said_later
            result.said_later_started = await self._start_said_later(input, todo.start_said_later)

        found: OutreachFound = await workflow.execute_activity_method(
            InboundActivities.find_outreach,
            FindOutreachInput(lead_id=input.lead.id, phone=input.lead.phone),
            start_to_close_timeout=STORE_CALL_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        result.outreach_found = found.workflow_ids
        outreach_arg: Any = (
            StopSignal(complete_current_executions=False)
            if todo.outreach_signal == "stop"
            else LeadRepliedSignal(message_id=input.message_id, channel=input.channel)
        )
        result.outreach_signalled = await _signal_all(found.workflow_ids, todo.outreach_signal, outreach_arg)
        if input.new_lead and input.sync_integrations:
            result.integration_sync = await start_sync(
                IntegrationSyncInput(
                    lead=input.lead, event="lead_created", event_id=input.lead.id, occurred_at=input.received_at
                )
            )
        return result

    async def _start_said_later(self, input: InboundMessageInput, workflow_id: str) -> bool:
        """False when one is running already: it keeps its timer."""
        return await start_abandoned(
            "FollowUpWorkflow",
            FollowUpInput(lead=input.lead, type="said_later", triggered_at=input.received_at),
            id=workflow_id,
            lead_id=input.lead.id,
            family="followup",
        )


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
