"""IntegrationSyncWorkflow: one lead event pushed to HubSpot, Meta CAPI and the lead's memory.

The targets run side by side and each is guarded on its own: a target that fails (or keeps
failing past :data:`TARGET_DEADLINE`) is reported as not ok, and the others carry on. Every
call carries a key derived from the lead, the target and the event, so a re-run of the same
event writes nothing twice. The memory target reads the recent conversation, has the llm
summarise it and saves the summary on the lead's record (as of the workflow's instant, so a
retried save writes the same thing and an older sync never replaces a newer summary).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.models import RecentConversation, RecentConversationInput
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
    from followthrough.providers.contracts.conversions import SendEventResult
    from followthrough.providers.contracts.crm import UpsertContactResult
    from followthrough.providers.contracts.llm import CompleteResult
    from followthrough.temporal.children import start_abandoned
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT

#: How long one target may keep retrying before it is reported as failed.
TARGET_DEADLINE = timedelta(minutes=30)
#: An llm call may take a while on a long conversation.
LLM_CALL_TIMEOUT = timedelta(minutes=2)

R = TypeVar("R")


@workflow.defn
class IntegrationSyncWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "integration_sync"

    @workflow.init
    def __init__(self, input: IntegrationSyncInput) -> None:
        self._result = IntegrationSyncResult(lead_id=input.lead.id, event=input.event, pending=list(input.targets))

    @workflow.run
    async def run(self, input: IntegrationSyncInput) -> IntegrationSyncResult:
        runners: dict[SyncTarget, Callable[[IntegrationSyncInput], Awaitable[TargetResult]]] = {
            "hubspot": self._hubspot,
            "meta_capi": self._meta_capi,
            "memory": self._memory,
        }
        targets = list(dict.fromkeys(input.targets))
        results = await asyncio.gather(*(self._guarded(t, runners[t], input) for t in targets))
        self._result.targets, self._result.pending = list(results), []
        return self._result

    async def _guarded(
        self,
        target: SyncTarget,
        run: Callable[[IntegrationSyncInput], Awaitable[TargetResult]],
        input: IntegrationSyncInput,
    ) -> TargetResult:
        try:
            result = await run(input)
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
            result = TargetResult(target=target, ok=False, detail=f"{kind}: {getattr(cause, 'message', cause)}")
        self._result.targets.append(result)
        self._result.pending = [t for t in self._result.pending if t != target]
        return result

    async def _call(self, activity: str, arg: Any, result_type: type[R], timeout: timedelta) -> R:
        """One target's activity call: retried until the target's deadline."""
        result: R = await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=TARGET_DEADLINE,
            retry_policy=DEFAULT_RETRY,
        )
        return result

    async def _hubspot(self, input: IntegrationSyncInput) -> TargetResult:
        request = hubspot_request(input)
        contact = await self._call("crm.upsert_contact", request, UpsertContactResult, PROVIDER_CALL_TIMEOUT)
        return hubspot_result(input, contact)

    async def _meta_capi(self, input: IntegrationSyncInput) -> TargetResult:
        sent = await self._call("conversions.send_event", capi_request(input), SendEventResult, PROVIDER_CALL_TIMEOUT)
        return capi_result(input, sent)

    async def _memory(self, input: IntegrationSyncInput) -> TargetResult:
        lead = RecentConversationInput(lead_id=input.lead.id)
        conversation = await self._call("leads.recent_conversation", lead, RecentConversation, STORE_CALL_TIMEOUT)
        request = memory_request(input, conversation.messages)
        completion = await self._call("llm.complete", request, CompleteResult, LLM_CALL_TIMEOUT)
        saved = memory_save_request(input, completion, workflow.now())
        await self._call("leads.save_memory", saved, bool, STORE_CALL_TIMEOUT)
        return memory_result(saved)

    @workflow.query(name="status")
    def status(self) -> IntegrationSyncResult:
        return self._result


async def start_sync(input: IntegrationSyncInput) -> str:
    """Start the sync of one lead event as a child that outlives its parent; its id,
    ``integration-{lead}-{event}-{event_id}``, makes the same event twice one sync. For workflows
    whose business step just happened (a booking, a payment, a lead's first message); returns
    the sync's workflow id."""
    sync_id = integration_workflow_id(input.lead.id, input.event, input.event_id)
    await start_abandoned(
        "IntegrationSyncWorkflow", input, id=sync_id, lead_id=input.lead.id, family="integration_sync"
    )
    return sync_id
