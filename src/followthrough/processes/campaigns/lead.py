"""LeadOutreachWorkflow (``campaign-{campaign_id}-lead-{lead_id}``): one lead through a
campaign's sequence graph.

It loads the graph, the lead and the sender by activity (its input carries ids only), keeps
the lead's ``campaign_executions`` record current, and walks the graph node by node. The
bookkeeping calls (``outreach.open_lead`` — the plan and the record's start in one call;
``outreach.acquire_slot``/``release_slot``; ``campaign_executions.record_step``/``finish``) run
as local activities (one marker event each, no matching on the server); the provider actions
are regular activities with heartbeats. The steps go to the record when the lead comes to rest
(before a delay, a condition's wait, a wait for a slot, a pause) and with ``finish``, so actions
that run back to back cost one store call between them all instead of one each.

* **action** — asks the sender's coordinator for a slot (``outreach.acquire_slot``; not at
  all when the sender's limits are lifted), sleeps until the granted instant, then runs the
  provider activity (``linkedin.*`` or ``messaging.send``) with an idempotency key of
  ``outreach:{campaign}:{lead}:{node}``. A slot not used in time (paused, worker outage) is
  given back and a new one asked for, so nothing goes out outside the sender's window or over
  its caps.
* **delay** — a durable timer, in calendar time or in the sender's sending days.
* **condition** — ``invitation_accepted`` polls ``linkedin.invitation_status`` once a day up to
  N days; ``replied`` waits up to N days for ``lead_replied``; ``profile_has`` reads the lead.
* **end** / **goal** — the outcome ``succeeded`` / ``goal_reached``.

Signals: ``pause`` holds the lead before its next action (timers keep running), ``resume``
lets it go on, ``stop`` ends it cleanly (``complete_current_executions`` lets an action under
way finish instead of cancelling it), ``lead_replied`` ends it with ``goal_reached`` (unless
the graph sets ``stop_on_reply`` false, then ``replied`` conditions see it). When done it
signals ``lead_finished`` to ``parent_workflow_id`` from the closing local activity (a signal
command would take one more workflow task to see it delivered); only a lead whose plan cannot
be loaded, and so has no record to close, sends it as a signal command.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.campaigns.graph import (
        TERMINAL_KINDS,
        AnyNode,
        DelayNode,
        InvitationAcceptedNode,
        LeadFinishedSignal,
        LeadOutcome,
        LeadOutreachInput,
        LeadOutreachResult,
        LeadOutreachStatus,
        LeadRepliedSignal,
        PauseSignal,
        ProfileHasNode,
        RepliedNode,
        ResumeSignal,
        StepResult,
        StopSignal,
        next_node_id,
        start_node,
        total_steps,
    )
    from followthrough.processes.campaigns.linkedin_activities import CAMPAIGN_PAUSED
    from followthrough.processes.campaigns.records import CampaignExecutionActivities
    from followthrough.processes.campaigns.sending_window import SlotGrant
    from followthrough.processes.campaigns.slots import OutreachActivities
    from followthrough.processes.campaigns.steps import (
        AcquireSlotInput,
        FinishExecutionInput,
        LeadPlan,
        OpenLeadInput,
        RecordStepInput,
        ReleaseSlotInput,
        idempotency_key,
        provider_call,
    )
    from followthrough.providers.contracts.linkedin import (
        InvitationResult,
        InvitationStatusInput,
        InvitationStatusResult,
    )
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT

#: How often a lead held only by the store's "paused" status tries its action again.
STORE_PAUSE_RECHECK = timedelta(hours=1)
#: How late a granted slot may still be used; later, it is given back and a new one asked for.
GRANT_GRACE = timedelta(minutes=10)
#: How long one action may keep retrying a passing fault before its slot is renewed.
ACTION_DEADLINE = timedelta(minutes=10)
#: Rounds of (slot, retries) before an action that keeps timing out fails the lead.
ACTION_ROUNDS = 5
INVITATION_POLL_EVERY = timedelta(days=1)
_HEARTBEAT = timedelta(seconds=60)


#: How long one slot request to the sender's coordinator may take.
SLOT_CALL_TIMEOUT = timedelta(seconds=30)


async def _local(method: Any, arg: Any, *, timeout: timedelta = STORE_CALL_TIMEOUT) -> Any:
    """Run one of the short bookkeeping calls (store reads and writes of this family's records,
    slot requests to the sender) as a *local* activity: one marker event in the history and no
    task-queue round trip, instead of three events and a match on the server. Same functions,
    same retry policy; the provider actions stay regular activities (heartbeats, cancellation)."""
    return await workflow.execute_local_activity_method(
        method, arg, start_to_close_timeout=timeout, retry_policy=DEFAULT_RETRY
    )


LeadState = Literal["loading", "running", "waiting", "paused", "finished"]


class _Interrupted(Exception):
    """The lead was stopped or replied while waiting; carries the outcome."""

    def __init__(self, outcome: LeadOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


#: Outside the sandbox (see docs/CONVENTIONS.md, "Sandbox"): one instance per lead, so the
#: sandbox's per-instance module re-import was the worker's largest cost at 100,000 leads.
@workflow.defn(sandboxed=False)
class LeadOutreachWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "lead_outreach"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    PUBLIC_SIGNALS = frozenset({"pause", "resume", "stop", "lead_replied"})

    @workflow.init
    def __init__(self, input: LeadOutreachInput) -> None:
        self._input = input
        self._paused = False
        #: The pause came from the store's campaign status (an action refused with
        #: ``CampaignPaused``), not from a signal: the lead looks again now and then.
        self._held_by_store = False
        #: Resumes received: an action refused before the latest one does not pause the lead.
        self._resumes = 0
        self._stop: StopSignal | None = None
        self._replied = False
        self._stop_on_reply = True
        self._state: LeadState = "loading"
        self._node: str | None = None
        self._step = 0
        self._total = 0
        self._outcome: LeadOutcome | None = None
        self._steps: list[StepResult] = []
        self._invitation_id: str | None = None
        self._requests = 0
        #: Steps done and not in the record yet: stored when the lead rests, or by ``finish``.
        self._unrecorded: list[StepResult] = []

    # --- signals and query --------------------------------------------------------------------
    @workflow.signal
    def pause(self, signal: PauseSignal) -> None:
        self._paused = True

    @workflow.signal
    def resume(self, signal: ResumeSignal) -> None:
        self._paused = False
        self._held_by_store = False
        self._resumes += 1

    @workflow.signal
    def stop(self, signal: StopSignal) -> None:
        # A second stop may make it harsher (cancel the action under way), never gentler.
        if self._stop is None or not signal.complete_current_executions:
            self._stop = signal

    @workflow.signal
    def lead_replied(self, signal: LeadRepliedSignal) -> None:
        self._replied = True

    @workflow.query
    def status(self) -> LeadOutreachStatus:
        state: LeadState = "paused" if self._paused and self._state in ("running", "waiting") else self._state
        return LeadOutreachStatus(
            state=state,
            current_node=self._node,
            current_step=self._step,
            total_steps=self._total,
            outcome=self._outcome,
        )

    # --- the walk -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: LeadOutreachInput) -> LeadOutreachResult:
        try:  # the plan and the record's start in one call
            plan: LeadPlan = await _local(
                OutreachActivities.open_lead,
                OpenLeadInput(
                    campaign_id=input.campaign_id,
                    lead_id=input.lead_id,
                    sender_account_id=input.sender_account_id,
                    workflow_id=workflow.info().workflow_id,
                    started_at=workflow.now(),
                ),
            )
        except (ActivityError, ApplicationError) as err:
            # A local activity's failure arrives as the ApplicationError itself (a regular
            # activity's as an ActivityError around it); either way the plan cannot be loaded.
            workflow.logger.warning("lead %s cannot run: %s", input.lead_id, err.cause or err)
            return await self._close(LeadOutcome.FAILED, None, record=False)
        self._stop_on_reply = plan.graph.stop_on_reply
        self._total = total_steps(plan.graph)
        self._state = "running"
        try:
            outcome, end_node = await self._walk(plan)
        except asyncio.CancelledError:
            # Cancelled by the orchestrator: record it, then let the cancellation stand.
            await self._record_close(LeadOutcome.STOPPED, self._node)
            raise
        return await self._close(outcome, end_node)

    def _interrupt(self) -> LeadOutcome | None:
        if self._stop is not None:
            return LeadOutcome.STOPPED
        if self._replied and self._stop_on_reply:
            return LeadOutcome.GOAL_REACHED
        return None

    async def _walk(self, plan: LeadPlan) -> tuple[LeadOutcome, str]:
        graph = plan.graph
        node = start_node(graph)
        while node.kind not in TERMINAL_KINDS:
            self._node = node.id
            try:
                self._check()
                result = await self._run_node(node, plan)
            except _Interrupted as stop:
                return stop.outcome, node.id
            self._step += 1
            result = result.model_copy(update={"step": self._step})
            self._steps.append(result)
            self._unrecorded.append(result)  # stored at the next rest or by campaign_executions.finish
            if result.status == "cancelled":
                return self._interrupt() or LeadOutcome.STOPPED, node.id
            if result.status == "failed":
                return LeadOutcome.FAILED, node.id
            following = next_node_id(graph, node.id, result.branch if node.kind == "condition" else None)
            if following is None:  # a validated graph always has one; stay safe on old records
                return LeadOutcome.SUCCEEDED, node.id
            done, node = node, graph.node(following)
            if node.kind in TERMINAL_KINDS:
                # Its last action is done: the lead has succeeded, even if a stop (or a reply)
                # arrived meanwhile. Decided from the history alone, so a closing task that runs
                # again (a stop arriving during it) decides the same: the outcome never changes.
                break
            if (outcome := self._interrupt()) is not None:
                return outcome, done.id
        self._node = node.id
        return (LeadOutcome.GOAL_REACHED if node.kind == "goal" else LeadOutcome.SUCCEEDED), node.id

    def _check(self) -> None:
        if (outcome := self._interrupt()) is not None:
            raise _Interrupted(outcome)

    async def _record_steps(self) -> None:
        """Store the steps not recorded yet, in one call. Called when the lead comes to rest, so
        its record is current whenever it waits."""
        if self._unrecorded:
            steps = list(self._unrecorded)
            await _local(
                CampaignExecutionActivities.record_step,
                RecordStepInput(campaign_id=self._input.campaign_id, lead_id=self._input.lead_id, steps=steps),
            )
            del self._unrecorded[: len(steps)]

    async def _sleep_until(self, instant: datetime) -> None:
        """A durable timer that a stop or a reply cuts short (raising :class:`_Interrupted`)."""
        delay = instant - workflow.now()
        if delay > timedelta(0):
            await self._record_steps()
            try:
                await workflow.wait_condition(lambda: self._interrupt() is not None, timeout=delay)
            except TimeoutError:
                pass
        self._check()

    async def _run_node(self, node: AnyNode, plan: LeadPlan) -> StepResult:
        base = StepResult(step=0, node_id=node.id, kind=node.kind)
        match node:
            case DelayNode():
                self._state = "waiting"
                now = workflow.now()
                if node.unit == "sending_days":
                    until = plan.sender.limits.window.add_sending_days(now, node.duration)
                else:
                    until = now + timedelta(**{node.calendar_unit: node.duration})
                await self._sleep_until(until)
                self._state = "running"
                return base.model_copy(update={"detail": {"until": until.isoformat()}})
            case InvitationAcceptedNode():
                accepted = await self._invitation_accepted(node, plan)
                return base.model_copy(update={"branch": accepted})
            case RepliedNode():
                if node.within_days > 0 and not self._replied:
                    await self._record_steps()
                    self._state = "waiting"
                    try:
                        await workflow.wait_condition(
                            lambda: self._replied or self._interrupt() is not None,
                            timeout=timedelta(days=node.within_days),
                        )
                    except TimeoutError:
                        pass
                    self._state = "running"
                    self._check()
                return base.model_copy(update={"branch": self._replied})
            case ProfileHasNode():
                return base.model_copy(update={"branch": plan.lead.has(node.field)})
        return await self._act(node, plan, base)

    # --- actions ------------------------------------------------------------------------------
    async def _act(self, node: AnyNode, plan: LeadPlan, base: StepResult) -> StepResult:
        key = idempotency_key(self._input.campaign_id, self._input.lead_id, node.id)
        call = provider_call(node, lead=plan.lead, sender=plan.sender, key=key, invitation_id=self._invitation_id)
        action = getattr(node, "action", None)
        base = base.model_copy(update={"action": action})
        if call.skip is not None:
            return base.model_copy(update={"status": "skipped", "error": call.skip})
        assert call.activity is not None
        round_ = 0
        while round_ < ACTION_ROUNDS:
            round_ += 1
            grant = await self._slot(str(action), plan)
            resumes = self._resumes
            handle = workflow.start_activity(
                call.activity,
                call.arg,
                result_type=call.result_type,
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                schedule_to_close_timeout=ACTION_DEADLINE,
                heartbeat_timeout=_HEARTBEAT,
                retry_policy=DEFAULT_RETRY,
                # A stop waits for the call to say whether it was cancelled or went out anyway,
                # so the step's record tells the truth.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            await workflow.wait_condition(lambda h=handle: h.done() or self._must_cancel())  # type: ignore[misc]
            if not handle.done():
                handle.cancel()
            try:
                result = await handle
            except (ActivityError, asyncio.CancelledError) as err:
                if self._must_cancel():
                    return base.model_copy(update={"status": "cancelled", "error": "stopped during the action"})
                assert isinstance(err, ActivityError)
                if isinstance(err.cause, ApplicationError) and err.cause.type == CAMPAIGN_PAUSED:
                    # The campaign was paused before the call went out: hold until resumed
                    # (unless a resume came meanwhile), then take a fresh slot; not a round.
                    if self._resumes == resumes:
                        self._paused = self._held_by_store = True
                    round_ -= 1
                    continue
                if isinstance(err.cause, ActivityTimeout) and round_ < ACTION_ROUNDS:
                    continue  # kept failing for ACTION_DEADLINE: take a fresh slot, same idempotency key
                return base.model_copy(update={"status": "failed", "error": _describe(err)})
            if isinstance(result, InvitationResult):
                self._invitation_id = result.invitation_id
            detail = result.model_dump(mode="json") if hasattr(result, "model_dump") else {}
            if grant is not None:
                detail["slot"] = grant.at.isoformat()
            return base.model_copy(update={"detail": detail})
        raise AssertionError("unreachable")  # pragma: no cover

    def _must_cancel(self) -> bool:
        return self._stop is not None and not self._stop.complete_current_executions

    async def _slot(self, action: str, plan: LeadPlan) -> SlotGrant | None:
        """Hold while paused, then get a slot from the sender and sleep until it. A slot that
        cannot be used in time (a pause, an outage) is given back and a new one taken."""
        if plan.sender.limits.unlimited:
            await self._hold_while_paused()
            return None
        while True:
            await self._hold_while_paused()
            self._requests += 1
            # A regular activity, not a local one: a lead waiting on a local activity holds a
            # workflow-task slot of its worker, and a burst of leads would hold every slot the
            # sender's own workflow task needs to answer them.
            grant = await workflow.execute_activity_method(
                OutreachActivities.acquire_slot,
                AcquireSlotInput(
                    account_id=self._input.sender_account_id,
                    request_key=f"{workflow.info().workflow_id}:{self._node}:{self._requests}",
                    action=action,
                    not_before=workflow.now(),
                ),
                start_to_close_timeout=SLOT_CALL_TIMEOUT,
                retry_policy=DEFAULT_RETRY,
            )
            self._state = "waiting"
            try:
                delay = grant.at - workflow.now()
                if delay > timedelta(0):
                    await self._record_steps()
                    try:
                        await workflow.wait_condition(
                            lambda: self._paused or self._interrupt() is not None, timeout=delay
                        )
                    except TimeoutError:
                        pass
            finally:
                self._state = "running"
            if self._interrupt() is not None or self._paused or workflow.now() > grant.at + GRANT_GRACE:
                await _local(
                    OutreachActivities.release_slot,
                    ReleaseSlotInput(account_id=self._input.sender_account_id, grant=grant),
                )
                self._check()
                continue
            return grant

    async def _hold_while_paused(self) -> None:
        """Hold while paused. Held by the store's status alone (no pause signal came), the lead
        tries again every :data:`STORE_PAUSE_RECHECK` in case the resume never reached it."""
        if self._paused:
            await self._record_steps()
            try:
                await workflow.wait_condition(
                    lambda: not self._paused or self._interrupt() is not None,
                    timeout=STORE_PAUSE_RECHECK if self._held_by_store else None,
                )
            except TimeoutError:
                self._paused = self._held_by_store = False  # the action's check decides again
        self._check()

    async def _invitation_accepted(self, node: InvitationAcceptedNode, plan: LeadPlan) -> bool:
        """Poll the invitation once a day for ``within_days`` days."""
        if self._invitation_id is None or not plan.lead.identifier:
            return False
        deadline = workflow.now() + timedelta(days=node.within_days)
        while True:
            self._state = "waiting"
            await self._sleep_until(min(workflow.now() + INVITATION_POLL_EVERY, deadline))
            self._state = "running"
            status = await workflow.execute_activity(
                "linkedin.invitation_status",
                InvitationStatusInput(
                    account_id=plan.sender.acting_account,
                    identifier=plan.lead.identifier,
                    invitation_id=self._invitation_id,
                ),
                result_type=InvitationStatusResult,
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                retry_policy=_POLL_RETRY,
            )
            if status.status != "pending":
                return status.status == "accepted"
            if workflow.now() >= deadline:
                return False

    # --- closing ------------------------------------------------------------------------------
    async def _record_close(self, outcome: LeadOutcome, end_node: str | None, *, report: bool = False) -> bool:
        """Close the execution record; with ``report`` the same call tells the orchestrator.
        Whether it did."""
        self._outcome = outcome
        self._state = "finished"
        report_to = self._input.parent_workflow_id if report else None
        await _local(
            CampaignExecutionActivities.finish,
            FinishExecutionInput(
                campaign_id=self._input.campaign_id,
                lead_id=self._input.lead_id,
                outcome=outcome,
                current_step=self._step,
                finished_at=workflow.now(),
                ended_at_node=end_node,
                steps=list(self._unrecorded),
                report_to=report_to,
            ),
        )
        self._unrecorded.clear()
        return report_to is not None

    async def _close(self, outcome: LeadOutcome, end_node: str | None, *, record: bool = True) -> LeadOutreachResult:
        reported = False
        if record:
            reported = await self._record_close(outcome, end_node, report=True)
        else:
            self._outcome, self._state = outcome, "finished"
        if self._input.parent_workflow_id and not reported:
            parent = workflow.get_external_workflow_handle(self._input.parent_workflow_id)
            try:
                await parent.signal("lead_finished", LeadFinishedSignal(lead_id=self._input.lead_id, outcome=outcome))
            except ApplicationError as err:  # the orchestrator is gone: nobody to tell
                workflow.logger.warning("could not signal %s: %s", self._input.parent_workflow_id, err)
        return LeadOutreachResult(
            lead_id=self._input.lead_id, outcome=outcome, steps=self._steps, ended_at_node=end_node
        )


#: A status read may fail for a while without failing the lead; it never changes anything.
_POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
    non_retryable_error_types=DEFAULT_RETRY.non_retryable_error_types,
)


def _describe(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'ApplicationError'}: {cause.message}"
    return str(cause or err)
