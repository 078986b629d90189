"""What one lead's workflow knows, and every decision it takes on it, without Temporal.

:class:`LeadBook` holds what the lead's signals said (pause, resume, stop, a reply), where the
lead is in its graph and the steps it did (and which of them the record has not seen yet); it
decides after each step whether the lead goes on, and with what outcome it ends. The functions
below decide one step's details: when a delay ends, what an action's failure means, what a
step's record says. Graph walking itself is :mod:`followthrough.processes.campaigns.graph`.
Nothing here calls Temporal or reads a clock (``now`` is passed in), so LeadOutreachWorkflow
stays a list of waits and activities, and this is unit-tested directly
(tests/processes/campaigns/test_lead_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from followthrough.processes.campaigns.graph import (
    TERMINAL_KINDS,
    AnyNode,
    CampaignGraph,
    DelayNode,
    LeadOutcome,
    LeadOutreachStatus,
    StepResult,
    StopSignal,
    next_node_id,
    start_node,
    total_steps,
)
from followthrough.processes.campaigns.sending_window import SenderLimits, SlotGrant
from followthrough.providers.contracts.linkedin import InvitationResult
from followthrough.temporal.policies import DEFAULT_RETRY

#: The error type of a LinkedIn action refused because the campaign is paused in the store
#: (raised by ``linkedin_activities``, which must use this same name).
CAMPAIGN_PAUSED = "CampaignPaused"
#: How often a lead held only by the store's "paused" status tries its action again.
STORE_PAUSE_RECHECK = timedelta(hours=1)
#: How late a granted slot may still be used; later, it is given back and a new one asked for.
GRANT_GRACE = timedelta(minutes=10)
#: How long one action may keep retrying a passing fault before its slot is renewed.
ACTION_DEADLINE = timedelta(minutes=10)
#: Rounds of (slot, retries) before an action that keeps timing out fails the lead.
ACTION_ROUNDS = 5
INVITATION_POLL_EVERY = timedelta(days=1)
#: A provider action heartbeats at least this often, so a lost worker is noticed.
ACTION_HEARTBEAT = timedelta(seconds=60)
#: How long one lead may run through its sequence (the seed's 30 days), from its start. Kept by
#: the lead itself (its waits end at it), not by an ``execution_timeout``: that costs the server
#: a timer row per lead that outlives the lead, and the lead could not close its record.
LEAD_DEADLINE = timedelta(days=30)
#: How long one slot request to the sender's coordinator may take.
SLOT_CALL_TIMEOUT = timedelta(seconds=30)
#: A status read may fail for a while without failing the lead; it never changes anything.
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
    non_retryable_error_types=DEFAULT_RETRY.non_retryable_error_types,
)

LeadState = Literal["loading", "running", "waiting", "paused", "finished"]
#: What an action's failure means: held by the store's pause, out of time (take a new slot), failed.
ActionFailure = Literal["paused", "timed_out", "failed"]


class Interrupted(Exception):
    """The lead was stopped or replied while waiting; carries the outcome."""

    def __init__(self, outcome: LeadOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


@dataclass(frozen=True)
class Ending:
    """How the walk ended: the outcome and the node it ended at."""

    outcome: LeadOutcome
    node_id: str | None


class LeadBook:
    """One lead's state: its signals, its place in the graph and its steps."""

    def __init__(self, deadline: datetime | None = None) -> None:
        #: When the lead gives up (``LEAD_DEADLINE`` after its start): it then ends ``failed``.
        self.deadline = deadline
        self.expired = False
        self.paused = False
        #: The pause came from the store's campaign status (an action refused with
        #: ``CampaignPaused``), not from a signal: the lead looks again now and then.
        self.held_by_store = False
        #: Resumes received: an action refused before the latest one does not pause the lead.
        self.resumes = 0
        self.stop_signal: StopSignal | None = None
        self.replied = False
        self.stop_on_reply = True
        self.state: LeadState = "loading"
        self.node: str | None = None
        self.step = 0
        self.total = 0
        self.outcome: LeadOutcome | None = None
        self.steps: list[StepResult] = []
        #: Steps done and not in the record yet: stored when the lead rests, or by ``finish``.
        self.unrecorded: list[StepResult] = []
        self.invitation_id: str | None = None
        #: Slot requests made: each one's key is new, so a retried request is the same one.
        self.requests = 0

    # --- signals --------------------------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = self.held_by_store = False
        self.resumes += 1

    def stop(self, signal: StopSignal) -> None:
        # A second stop may make it harsher (cancel the action under way), never gentler.
        if self.stop_signal is None or not signal.complete_current_executions:
            self.stop_signal = signal

    def reply(self) -> None:
        self.replied = True

    def interrupt(self) -> LeadOutcome | None:
        """The outcome a stop, the deadline or a reply ends the lead with now, if any."""
        if self.stop_signal is not None:
            return LeadOutcome.STOPPED
        if self.expired:
            return LeadOutcome.FAILED
        if self.replied and self.stop_on_reply:
            return LeadOutcome.GOAL_REACHED
        return None

    # --- the deadline ------------------------------------------------------------------------------
    def clock(self, now: datetime) -> None:
        """Note the time: past the deadline, the lead is interrupted with ``failed``."""
        if self.deadline is not None and now >= self.deadline:
            self.expired = True

    def bound(self, timeout: timedelta | None, now: datetime) -> timedelta | None:
        """A wait's timeout, cut to end at the deadline (``None``: no end but the deadline's)."""
        if self.deadline is None:
            return timeout
        left = max(self.deadline - now, timedelta(0))
        return left if timeout is None else min(timeout, left)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop or a reply ends the lead here."""
        if (outcome := self.interrupt()) is not None:
            raise Interrupted(outcome)

    def must_cancel(self) -> bool:
        """A stop that does not let the action under way finish."""
        return self.stop_signal is not None and not self.stop_signal.complete_current_executions

    # --- pauses ------------------------------------------------------------------------------------
    def refused_while_paused(self, resumes_before: int) -> None:
        """The action was refused by the store's pause: hold, unless a resume came meanwhile."""
        if self.resumes == resumes_before:
            self.paused = self.held_by_store = True

    def hold_timeout(self) -> timedelta | None:
        """Held by the store's status alone, the lead tries again now and then (the resume may
        never reach it); held by a signal, it waits for the resume."""
        return STORE_PAUSE_RECHECK if self.held_by_store else None

    def hold_lapsed(self) -> None:
        self.paused = self.held_by_store = False  # the action's check decides again

    def give_back(self, grant: SlotGrant, now: datetime) -> bool:
        """Whether a slot waited for cannot be used: a stop, a reply, a pause, or too late."""
        return self.interrupt() is not None or self.paused or now > grant.at + GRANT_GRACE

    def slot_request_key(self, workflow_id: str) -> str:
        self.requests += 1
        return f"{workflow_id}:{self.node}:{self.requests}"

    # --- the walk ------------------------------------------------------------------------------------
    def begin(self, graph: CampaignGraph) -> AnyNode | Ending:
        """The plan is loaded: the first node, or the ending if the graph starts at one."""
        self.stop_on_reply = graph.stop_on_reply
        self.total = total_steps(graph)
        self.state = "running"
        return self._enter(start_node(graph))

    def stepped(self, graph: CampaignGraph, node: AnyNode, result: StepResult) -> AnyNode | Ending:
        """Record a node's step and say where the lead goes next, or how it ends.

        Once the next node is an end, the lead has succeeded even if a stop (or a reply) came
        meanwhile: decided from the history alone, so a closing task that runs again (a stop
        arriving during it) decides the same, and the outcome never changes."""
        self.step += 1
        result = result.model_copy(update={"step": self.step})
        self.steps.append(result)
        self.unrecorded.append(result)
        if result.status == "cancelled":
            return Ending(self.interrupt() or LeadOutcome.STOPPED, node.id)
        if result.status == "failed":
            return Ending(LeadOutcome.FAILED, node.id)
        following = next_node_id(graph, node.id, result.branch if node.kind == "condition" else None)
        if following is None:  # a validated graph always has one; stay safe on old records
            return Ending(LeadOutcome.SUCCEEDED, node.id)
        following_node = graph.node(following)
        if following_node.kind not in TERMINAL_KINDS and (outcome := self.interrupt()) is not None:
            return Ending(outcome, node.id)
        return self._enter(following_node)

    def _enter(self, node: AnyNode) -> AnyNode | Ending:
        self.node = node.id
        if node.kind in TERMINAL_KINDS:
            return Ending(LeadOutcome.GOAL_REACHED if node.kind == "goal" else LeadOutcome.SUCCEEDED, node.id)
        return node

    def acted(self, result: Any) -> None:
        """Keep what a later action needs from this one (the invitation to withdraw or poll)."""
        if isinstance(result, InvitationResult):
            self.invitation_id = result.invitation_id

    def recorded(self, count: int) -> None:
        """The first ``count`` unrecorded steps are in the record now."""
        del self.unrecorded[:count]

    def finished(self, outcome: LeadOutcome) -> None:
        self.outcome, self.state = outcome, "finished"

    def status(self) -> LeadOutreachStatus:
        paused = self.paused and self.state in ("running", "waiting")
        return LeadOutreachStatus(
            state="paused" if paused else self.state,
            current_node=self.node,
            current_step=self.step,
            total_steps=self.total,
            outcome=self.outcome,
        )


# --- one step's details ------------------------------------------------------------------------------
def delay_until(node: DelayNode, now: datetime, limits: SenderLimits) -> datetime:
    """When a delay node ends: in calendar time, or in the sender's sending days."""
    if node.unit == "sending_days":
        return limits.window.add_sending_days(now, node.duration)
    return now + timedelta(**{node.calendar_unit: node.duration})


def action_failure(err: ActivityError) -> ActionFailure:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == CAMPAIGN_PAUSED:
        return "paused"
    if isinstance(cause, ActivityTimeout):
        return "timed_out"
    return "failed"


def describe(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'ApplicationError'}: {cause.message}"
    return str(cause or err)


def action_detail(result: Any, grant: SlotGrant | None) -> dict[str, Any]:
    """What an action's step records: the provider's answer and the slot it went out in."""
    detail: dict[str, Any] = result.model_dump(mode="json") if hasattr(result, "model_dump") else {}
    if grant is not None:
        detail["slot"] = grant.at.isoformat()
    return detail


def next_poll(now: datetime, deadline: datetime) -> datetime:
    """When to look at an invitation next: a day on, never past the condition's deadline."""
    return min(now + INVITATION_POLL_EVERY, deadline)
