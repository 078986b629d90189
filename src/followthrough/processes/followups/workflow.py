"""FollowUpWorkflow: messages at absolute instants, stopped by what the lead does.

The schedule comes from :func:`followthrough.processes.followups.rules.plan`; the workflow sleeps until the
next pending step, checks the lead's record (an opt-out recorded by the webhook holds even if
no signal reached us), renders the template in the lead's language and sends it with the key
``followup:{lead}:{type}:{step}``. Signals stop it (``lead_replied``, ``opted_out``,
``demo_booked`` for re-engagement) or move its timers (``demo_changed``).

Delivering a step is written once, :func:`deliver`: with ``USE_TEMPORAL_FOLLOWUPS`` off,
``POST /api/followups`` sleeps in-process and runs the same function inline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # by its full name: ``from <package> import <module>`` would load the module inside the
    # sandbox, afresh for every execution (the package is the sandbox's own copy, and Python
    # imports a from-list module without the sandbox's passthrough hook)
    import followthrough.processes.followups.rules as rules
    from followthrough.leads.activities import LeadActivities
    from followthrough.leads.models import ContactStateInput, LeadRepliedSignal
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.followups.rules import (
        DemoBookedSignal,
        DemoChangedSignal,
        FollowUpInput,
        FollowUpStatus,
        FollowUpStep,
        OptedOutSignal,
    )
    from followthrough.temporal.children import start_abandoned
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT, STORE_RETRY
    from followthrough.temporal.saga import describe
    from followthrough.temporal.steps import STEP_FAILURES, Steps, WorkflowSteps


async def deliver(
    steps: Steps, input: FollowUpInput, status: FollowUpStatus, step: FollowUpStep, stop: Callable[[str], None]
) -> None:
    """Send ``step`` unless it is too late or the lead opted out (then ``stop("opted_out")``);
    ``status.steps`` records what happened to it."""
    now = steps.now()
    if rules.too_late(step, now):
        _update(status, step, state="skipped", reason=f"due {step.due_at.isoformat()}, reached {now.isoformat()}")
        return
    contact = await steps.run(
        LeadActivities.contact_state,
        ContactStateInput(lead_id=input.lead.id),
        timeout=STORE_CALL_TIMEOUT,
        retry=STORE_RETRY,
    )
    if contact.opted_out:
        stop("opted_out")
        return
    current = _current(status, step)
    if status.state != "running" or current.state != "pending" or current.due_at != step.due_at:
        return  # a signal stopped or moved it while we read the record
    try:
        sent = await steps.run(
            MessagingActivities.send,
            rules.send_request(input.lead, input.type, step, status.demo_start),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            # Retry while the message is still timely; past that it would arrive late.
            deadline=rules.MAX_LATENESS,
        )
    except STEP_FAILURES as err:
        message, kind = describe(err)
        _update(status, step, state="skipped", reason=f"not sent: {kind}: {message}")
        return
    _update(status, step, state="sent", sent_at=steps.now(), message_id=sent.message_id, reason=None)


def stop_followup(status: FollowUpStatus, reason: str) -> None:
    """Stop a running follow-up: its pending steps cancelled with ``reason``."""
    if status.state != "running":
        return
    status.state = "stopped"
    status.stopped_by = reason
    status.steps = rules.cancel_pending(status.steps, reason)


def _current(status: FollowUpStatus, step: FollowUpStep) -> FollowUpStep:
    return next(s for s in status.steps if s.index == step.index)


def _update(status: FollowUpStatus, step: FollowUpStep, **changes: object) -> None:
    status.steps = rules.replace_step(status.steps, _current(status, step).model_copy(update=changes))


@workflow.defn
class FollowUpWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "followup"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    #: The customer's backend reports replies, opt-outs and demos it learns of itself.
    PUBLIC_SIGNALS = frozenset({"lead_replied", "opted_out", "demo_booked", "demo_changed"})

    @workflow.init
    def __init__(self, input: FollowUpInput) -> None:
        self._input = input
        self._status = FollowUpStatus(
            lead_id=input.lead.id, type=input.type, demo_start=input.demo_start, demo_end=input.demo_end
        )
        # "Already past" means past when the follow-up was asked for (the execution's start),
        # not when a worker first ran it: a backlog of a few seconds must not skip a step due
        # in between. A step reached late is sent up to rules.MAX_LATENESS after its instant.
        asked_at = workflow.info().workflow_start_time
        self._status.steps = rules.plan(
            input.type,
            demo_start=input.demo_start,
            demo_end=input.demo_end,
            triggered_at=input.triggered_at or asked_at,
            now=asked_at,
        )
        self._wake = False  # a signal changed the plan: re-read it instead of sleeping on
        self._steps = WorkflowSteps()

    @workflow.run
    async def run(self, input: FollowUpInput) -> FollowUpStatus:
        status = self._status
        while status.state == "running" and (step := rules.next_pending(status.steps)) is not None:
            if await self._sleep_until_due(step):
                continue  # woken by a signal: the step may have moved or been cancelled
            await self._deliver(step)
        if status.state == "running":
            status.state = "completed"
        return status

    async def _sleep_until_due(self, step: FollowUpStep) -> bool:
        """Sleep until ``step`` is due; True when a signal woke us first."""
        delay = step.due_at - workflow.now()
        if delay <= timedelta(0):
            return False
        self._wake = False
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=delay, timeout_summary=f"{step.name} due")
        except TimeoutError:
            return False
        return True

    async def _deliver(self, step: FollowUpStep) -> None:
        await deliver(self._steps, self._input, self._status, step, self._stop)

    def _stop(self, reason: str) -> None:
        if self._status.state == "running":
            stop_followup(self._status, reason)
            self._wake = True

    # --- signals and query ----------------------------------------------------------------
    @workflow.signal(name="lead_replied")
    def lead_replied(self, signal: LeadRepliedSignal) -> None:
        self._stop("lead_replied")

    @workflow.signal(name="opted_out")
    def opted_out(self, signal: OptedOutSignal) -> None:
        self._stop("opted_out")

    @workflow.signal(name="demo_booked")
    def demo_booked(self, signal: DemoBookedSignal) -> None:
        reason = rules.stop_reason(self._input.type, "demo_booked")
        if reason is not None:
            self._stop(reason)

    @workflow.signal(name="demo_changed")
    def demo_changed(self, signal: DemoChangedSignal) -> None:
        status = self._status
        if status.state != "running" or self._input.type not in rules.DEMO_TYPES:
            return
        if signal.cancelled:
            self._stop("demo_cancelled")
            return
        start, end = rules.moved_demo(status.demo_start, status.demo_end, signal.demo_start, signal.demo_end)
        status.demo_start, status.demo_end = start, end
        status.steps = rules.reschedule(
            self._input.type, status.steps, demo_start=start, demo_end=end, now=workflow.now()
        )
        self._wake = True

    @workflow.query(name="status")
    def status(self) -> FollowUpStatus:
        return self._status


async def start_followup(input: FollowUpInput, *, id: str) -> bool:
    """Start a follow-up ``id`` as a child that outlives its parent (a booking's reminders, a
    lead's "later"); False when one with that id already runs (it keeps its timers). Its type and
    ``WorkflowFamily`` come from :class:`FollowUpWorkflow`, so a rename cannot drift."""
    return await start_abandoned(FollowUpWorkflow, input, id=id, lead_id=input.lead.id)
