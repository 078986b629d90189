"""LeadOutreachWorkflow (``campaign-{campaign_id}-lead-{lead_id}``): one lead through a
campaign's sequence graph.

It loads its plan and begins its ``campaign_executions`` record in one call
(``outreach.open_lead``), then walks the graph: an **action** asks the sender for a slot
(``outreach.acquire_slot``), sleeps until it and runs the provider activity (``linkedin.*``,
``messaging.send``) keyed ``outreach:{campaign}:{lead}:{node}``; a **delay** is a durable timer;
a **condition** polls an invitation, waits for ``lead_replied`` or reads the lead; **end** and
**goal** close it. ``pause`` holds it before its next action, ``resume`` lets it go, ``stop``
ends it, a reply ends it with ``goal_reached``; ``LEAD_DEADLINE`` (30 days) after its start it
ends ``failed`` (its waits end there: no execution timeout, no timer of its own); it tells
``parent_workflow_id`` when done.
Bookkeeping calls are local activities (one marker each); steps reach the record when the lead
rests and with ``finish``. What the lead knows and decides is :class:`LeadBook`
(``lead_rules.py``, pure and unit-tested); how one action goes out (pause, slot, provider
call) is ``lead_action.py``; this workflow walks the graph and runs the waits.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.models import LeadRepliedSignal
    from followthrough.processes.campaigns.graph import (
        AnyNode,
        DelayNode,
        InvitationAcceptedNode,
        LeadFinishedSignal,
        LeadOutcome,
        LeadOutreachInput,
        LeadOutreachResult,
        LeadOutreachStatus,
        ProfileHasNode,
        RepliedNode,
        StepResult,
        StopSignal,
    )
    from followthrough.processes.campaigns.lead_action import act, local, record_steps
    from followthrough.processes.campaigns.lead_rules import (
        LEAD_DEADLINE,
        POLL_RETRY,
        Ending,
        Interrupted,
        LeadBook,
        delay_until,
        next_poll,
    )
    from followthrough.processes.campaigns.linkedin_activities import LinkedInActivities
    from followthrough.processes.campaigns.records import CampaignExecutionActivities
    from followthrough.processes.campaigns.slots import OutreachActivities
    from followthrough.processes.campaigns.steps import (
        FinishExecutionInput,
        LeadPlan,
        OpenLeadInput,
    )
    from followthrough.providers.contracts.linkedin import InvitationStatusInput
    from followthrough.temporal.policies import PROVIDER_CALL_TIMEOUT
    from followthrough.temporal.signals import PauseSignal, ResumeSignal


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
        self._book = LeadBook(deadline=workflow.info().workflow_start_time + LEAD_DEADLINE)

    # --- signals and query --------------------------------------------------------------------
    @workflow.signal
    def pause(self, signal: PauseSignal) -> None:
        self._book.pause()

    @workflow.signal
    def resume(self, signal: ResumeSignal) -> None:
        self._book.resume()

    @workflow.signal
    def stop(self, signal: StopSignal) -> None:
        self._book.stop(signal)

    @workflow.signal
    def lead_replied(self, signal: LeadRepliedSignal) -> None:
        self._book.reply()

    @workflow.query
    def status(self) -> LeadOutreachStatus:
        return self._book.status()

    # --- the walk -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: LeadOutreachInput) -> LeadOutreachResult:
        try:  # the plan and the record's start in one call
            plan: LeadPlan = await local(
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
            return await self._close(Ending(LeadOutcome.FAILED, None), record=False)
        try:
            ending = await self._walk(plan)
        except asyncio.CancelledError:
            # Cancelled by the orchestrator: record it, then let the cancellation stand.
            await self._record_close(LeadOutcome.STOPPED, self._book.node)
            raise
        return await self._close(ending)

    async def _walk(self, plan: LeadPlan) -> Ending:
        next_: AnyNode | Ending = self._book.begin(plan.graph)
        while not isinstance(next_, Ending):
            node = next_
            try:
                self._book.clock(workflow.now())
                self._book.check()
                result = await self._run_node(node, plan)
            except Interrupted as stop:
                return Ending(stop.outcome, node.id)
            next_ = self._book.stepped(plan.graph, node, result)
        return next_

    async def _run_node(self, node: AnyNode, plan: LeadPlan) -> StepResult:
        base = StepResult(step=0, node_id=node.id, kind=node.kind)
        match node:
            case DelayNode():
                until = delay_until(node, workflow.now(), plan.sender.limits)
                await self._rest_until(lambda: False, until - workflow.now())
                return base.model_copy(update={"detail": {"until": until.isoformat()}})
            case InvitationAcceptedNode():
                return base.model_copy(update={"branch": await self._invitation_accepted(node, plan)})
            case RepliedNode():
                if node.within_days > 0 and not self._book.replied:
                    await self._rest_until(lambda: self._book.replied, timedelta(days=node.within_days))
                return base.model_copy(update={"branch": self._book.replied})
            case ProfileHasNode():
                return base.model_copy(update={"branch": plan.lead.has(node.field)})
        return await act(self._book, self._input, node, plan, base)

    async def _rest_until(self, done: Any, timeout: timedelta) -> None:
        """Wait up to ``timeout`` (never past the deadline) for ``done``, a stop or a reply
        (raising :class:`Interrupted`), the steps done so far stored first, so the record is
        current while the lead waits."""
        timeout = self._book.bound(timeout, workflow.now()) or timedelta(0)
        if timeout > timedelta(0):
            await record_steps(self._book, self._input)
            self._book.state = "waiting"
            try:
                await workflow.wait_condition(lambda: done() or self._book.interrupt() is not None, timeout=timeout)
            except TimeoutError:
                pass
            finally:
                self._book.state = "running"
        self._book.clock(workflow.now())
        self._book.check()

    async def _invitation_accepted(self, node: InvitationAcceptedNode, plan: LeadPlan) -> bool:
        """Poll the invitation once a day for ``within_days`` days."""
        if self._book.invitation_id is None or not plan.lead.identifier:
            return False
        deadline = workflow.now() + timedelta(days=node.within_days)
        while True:
            await self._rest_until(lambda: False, next_poll(workflow.now(), deadline) - workflow.now())
            status = await workflow.execute_activity_method(
                LinkedInActivities.invitation_status,
                InvitationStatusInput(
                    account_id=plan.sender.acting_account,
                    identifier=plan.lead.identifier,
                    invitation_id=self._book.invitation_id,
                ),
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                retry_policy=POLL_RETRY,
            )
            if status.status != "pending":
                return status.status == "accepted"
            if workflow.now() >= deadline:
                return False

    # --- closing ------------------------------------------------------------------------------
    async def _record_close(self, outcome: LeadOutcome, end_node: str | None, *, report: bool = False) -> bool:
        """Close the execution record; with ``report`` the same call tells the orchestrator."""
        self._book.finished(outcome)
        report_to = self._input.parent_workflow_id if report else None
        steps = list(self._book.unrecorded)
        arg = FinishExecutionInput(
            campaign_id=self._input.campaign_id,
            lead_id=self._input.lead_id,
            outcome=outcome,
            current_step=self._book.step,
            finished_at=workflow.now(),
            ended_at_node=end_node,
            steps=steps,
            report_to=report_to,
        )
        await local(CampaignExecutionActivities.finish, arg)
        self._book.recorded(len(steps))
        return report_to is not None

    async def _close(self, ending: Ending, *, record: bool = True) -> LeadOutreachResult:
        self._book.finished(ending.outcome)
        reported = record and await self._record_close(ending.outcome, ending.node_id, report=True)
        if self._input.parent_workflow_id and not reported:
            parent = workflow.get_external_workflow_handle(self._input.parent_workflow_id)
            signal = LeadFinishedSignal(lead_id=self._input.lead_id, outcome=ending.outcome)
            try:
                await parent.signal("lead_finished", signal)
            except ApplicationError as err:  # the orchestrator is gone: nobody to tell
                workflow.logger.warning("could not signal %s: %s", self._input.parent_workflow_id, err)
        return LeadOutreachResult(
            lead_id=self._input.lead_id, outcome=ending.outcome, steps=self._book.steps, ended_at_node=ending.node_id
        )
