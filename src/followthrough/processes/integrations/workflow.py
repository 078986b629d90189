"""IntegrationSyncWorkflow: one lead event pushed to HubSpot, Meta CAPI and the lead's memory.

The targets run side by side and each is guarded on its own: a target that fails (or keeps
failing past :data:`TARGET_DEADLINE`) is reported as not ok, and the others carry on. Every
call carries a key derived from the lead, the target and the event, so a re-run of the same
event writes nothing twice. The memory target reads the recent conversation, has the llm
summarise it and saves the summary on the lead's record (as of the workflow's instant, so a
retried save writes the same thing and an older sync never replaces a newer summary).

The targets are written once, :func:`sync_targets`: with ``USE_TEMPORAL_INTEGRATIONS`` off,
``POST /api/integrations/sync`` runs the same function inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.activities import LeadActivities
    from followthrough.leads.models import RecentConversationInput
    from followthrough.llm.activities import LLMActivities
    from followthrough.processes.integrations.conversions import ConversionsActivities
    from followthrough.processes.integrations.crm import CRMActivities
    from followthrough.processes.integrations.rules import (
        IntegrationSyncInput,
        IntegrationSyncResult,
        SyncTarget,
        TargetResult,
        capi_request,
        capi_result,
        hubspot_request,
        hubspot_result,
        integration_workflow_id,
        memory_request,
        memory_result,
        memory_save_request,
    )
    from followthrough.temporal.children import start_abandoned
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT
    from followthrough.temporal.saga import describe
    from followthrough.temporal.steps import STEP_FAILURES, Steps, WorkflowSteps

#: How long one target may keep retrying before it is reported as failed.
TARGET_DEADLINE = timedelta(minutes=30)
#: An llm call may take a while on a long conversation.
LLM_CALL_TIMEOUT = timedelta(minutes=2)


async def sync_targets(
    steps: Steps, input: IntegrationSyncInput, result: IntegrationSyncResult
) -> IntegrationSyncResult:
    """Every target of ``input`` side by side, each on its own; ``result`` follows them."""

    async def hubspot() -> TargetResult:
        contact = await steps.run(
            CRMActivities.upsert_contact,
            hubspot_request(input),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=TARGET_DEADLINE,
        )
        return hubspot_result(input, contact)

    async def meta_capi() -> TargetResult:
        sent = await steps.run(
            ConversionsActivities.send_event,
            capi_request(input),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=TARGET_DEADLINE,
        )
        return capi_result(input, sent)

    async def memory() -> TargetResult:
        conversation = await steps.run(
            LeadActivities.recent_conversation,
            RecentConversationInput(lead_id=input.lead.id),
            timeout=STORE_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=TARGET_DEADLINE,
        )
        completion = await steps.run(
            LLMActivities.complete,
            memory_request(input, conversation.messages),
            timeout=LLM_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=TARGET_DEADLINE,
        )
        saved = memory_save_request(input, completion, steps.now())
        await steps.run(
            LeadActivities.save_memory, saved, timeout=STORE_CALL_TIMEOUT, retry=DEFAULT_RETRY, deadline=TARGET_DEADLINE
        )
        return memory_result(saved)

    runners: dict[SyncTarget, Callable[[], Awaitable[TargetResult]]] = {
        "hubspot": hubspot,
        "meta_capi": meta_capi,
        "memory": memory,
    }

    async def guarded(target: SyncTarget) -> TargetResult:
        try:
            done = await runners[target]()
        except STEP_FAILURES as err:
            message, kind = describe(err)
            done = TargetResult(target=target, ok=False, detail=f"{kind}: {message}")
        result.targets.append(done)
        result.pending = [t for t in result.pending if t != target]
        return done

    targets = list(dict.fromkeys(input.targets))
    results = await asyncio.gather(*(guarded(t) for t in targets))
    result.targets, result.pending = list(results), []
    return result


@workflow.defn
class IntegrationSyncWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "integration_sync"

    @workflow.init
    def __init__(self, input: IntegrationSyncInput) -> None:
        self._result = IntegrationSyncResult(lead_id=input.lead.id, event=input.event, pending=list(input.targets))

    @workflow.run
    async def run(self, input: IntegrationSyncInput) -> IntegrationSyncResult:
        return await sync_targets(WorkflowSteps(), input, self._result)

    @workflow.query(name="status")
    def status(self) -> IntegrationSyncResult:
        return self._result


async def start_sync(input: IntegrationSyncInput) -> str:
    """Start the sync of one lead event as a child that outlives its parent; its id,
    ``integration-{lead}-{event}-{event_id}``, makes the same event twice one sync. For workflows
    whose business step just happened (a booking, a payment, a lead's first message); returns
    the sync's workflow id."""
    sync_id = integration_workflow_id(input.lead.id, input.event, input.event_id)
    await start_abandoned(IntegrationSyncWorkflow, input, id=sync_id, lead_id=input.lead.id)
    return sync_id
