"""How one action of a lead goes out: held while the campaign is paused, a slot from the
sender (``outreach.acquire_slot``, slept until; given back if it cannot be used in time), then
the provider call, cancelled by a stop that does not let it finish.

Workflow code, run by :class:`~followthrough.processes.campaigns.lead.LeadOutreachWorkflow`
(outside the sandbox like it, so tests/workflows/test_purity.py reads this module too); the
decisions are :class:`~followthrough.processes.campaigns.lead_rules.LeadBook`'s.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.campaigns.graph import AnyNode, LeadOutreachInput, StepResult
    from followthrough.processes.campaigns.lead_rules import (
        ACTION_DEADLINE,
        ACTION_HEARTBEAT,
        ACTION_ROUNDS,
        SLOT_CALL_TIMEOUT,
        LeadBook,
        action_detail,
        action_failure,
        describe,
    )
    from followthrough.processes.campaigns.records import CampaignExecutionActivities
    from followthrough.processes.campaigns.sending_window import SlotGrant
    from followthrough.processes.campaigns.slots import OutreachActivities
    from followthrough.processes.campaigns.steps import (
        AcquireSlotInput,
        LeadPlan,
        RecordStepInput,
        ReleaseSlotInput,
        idempotency_key,
        provider_call,
    )
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT


async def local(method: Any, arg: Any, *, timeout: timedelta = STORE_CALL_TIMEOUT) -> Any:
    """A bookkeeping call as a *local* activity: one marker event, no task-queue round trip."""
    return await workflow.execute_local_activity_method(
        method, arg, start_to_close_timeout=timeout, retry_policy=DEFAULT_RETRY
    )


async def record_steps(book: LeadBook, input: LeadOutreachInput) -> None:
    """Store the steps not recorded yet, in one call: the lead is coming to rest."""
    if book.unrecorded:
        steps = list(book.unrecorded)
        arg = RecordStepInput(campaign_id=input.campaign_id, lead_id=input.lead_id, steps=steps)
        await local(CampaignExecutionActivities.record_step, arg)
        book.recorded(len(steps))


async def act(book: LeadBook, input: LeadOutreachInput, node: AnyNode, plan: LeadPlan, base: StepResult) -> StepResult:
    """Run one action node: a slot, then the provider call (a fresh slot after a timeout)."""
    key = idempotency_key(input.campaign_id, input.lead_id, node.id)
    call = provider_call(node, lead=plan.lead, sender=plan.sender, key=key, invitation_id=book.invitation_id)
    action = getattr(node, "action", None)
    base = base.model_copy(update={"action": action})
    if call.skip is not None:
        return base.model_copy(update={"status": "skipped", "error": call.skip})
    assert call.activity is not None
    round_ = 0
    while round_ < ACTION_ROUNDS:
        round_ += 1
        grant = await _slot(book, input, str(action), plan)
        resumes = book.resumes
        handle = workflow.start_activity(
            call.activity,
            call.arg,
            result_type=call.result_type,
            start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
            schedule_to_close_timeout=ACTION_DEADLINE,
            heartbeat_timeout=ACTION_HEARTBEAT,
            retry_policy=DEFAULT_RETRY,
            # A stop waits for the call to say whether it was cancelled or went out anyway,
            # so the step's record tells the truth.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda h=handle: h.done() or book.must_cancel())  # type: ignore[misc]
        if not handle.done():
            handle.cancel()
        try:
            result = await handle
        except (ActivityError, asyncio.CancelledError) as err:
            if book.must_cancel():
                return base.model_copy(update={"status": "cancelled", "error": "stopped during the action"})
            assert isinstance(err, ActivityError)
            match action_failure(err):
                case "paused":  # refused by the store's pause: hold, then a fresh slot; not a round
                    book.refused_while_paused(resumes)
                    round_ -= 1
                    continue
                case "timed_out" if round_ < ACTION_ROUNDS:
                    continue  # kept failing for ACTION_DEADLINE: a fresh slot, same idempotency key
            return base.model_copy(update={"status": "failed", "error": describe(err)})
        book.acted(result)
        return base.model_copy(update={"detail": action_detail(result, grant)})
    raise AssertionError("unreachable")  # pragma: no cover


async def _slot(book: LeadBook, input: LeadOutreachInput, action: str, plan: LeadPlan) -> SlotGrant | None:
    """Hold while paused, then get a slot from the sender and sleep until it. A slot that
    cannot be used in time (a pause, an outage) is given back and a new one taken."""
    if plan.sender.limits.unlimited:
        await _hold_while_paused(book, input)
        return None
    while True:
        await _hold_while_paused(book, input)
        # A regular activity, not a local one: a lead waiting on a local activity holds a
        # workflow-task slot of its worker, and a burst of leads would hold every slot the
        # sender's own workflow task needs to answer them.
        grant = await workflow.execute_activity_method(
            OutreachActivities.acquire_slot,
            AcquireSlotInput(
                account_id=input.sender_account_id,
                request_key=book.slot_request_key(workflow.info().workflow_id),
                action=action,
                not_before=workflow.now(),
            ),
            start_to_close_timeout=SLOT_CALL_TIMEOUT,
            retry_policy=DEFAULT_RETRY,
        )
        book.state = "waiting"
        try:
            delay = book.bound(grant.at - workflow.now(), workflow.now()) or timedelta(0)
            if delay > timedelta(0):
                await record_steps(book, input)
                try:
                    await workflow.wait_condition(lambda: book.paused or book.interrupt() is not None, timeout=delay)
                except TimeoutError:
                    pass
        finally:
            book.state = "running"
        book.clock(workflow.now())
        if book.give_back(grant, workflow.now()):
            await local(
                OutreachActivities.release_slot,
                ReleaseSlotInput(account_id=input.sender_account_id, grant=grant),
            )
            book.check()
            continue
        return grant


async def _hold_while_paused(book: LeadBook, input: LeadOutreachInput) -> None:
    """Hold while paused (held by the store's status alone, try again now and then), never
    past the lead's deadline."""
    book.clock(workflow.now())
    if book.paused and not book.expired:
        await record_steps(book, input)
        try:
            await workflow.wait_condition(
                lambda: not book.paused or book.interrupt() is not None,
                timeout=book.bound(book.hold_timeout(), workflow.now()),
            )
        except TimeoutError:
            book.clock(workflow.now())
            if not book.expired:
                book.hold_lapsed()
    book.check()
