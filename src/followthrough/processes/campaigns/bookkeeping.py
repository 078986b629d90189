"""What the campaign orchestrator knows, and every decision it takes on it, without Temporal.

:class:`CampaignBook` holds the window's seats (the leads in flight and the starts not yet
resolved), the leads read and not started, the early reports, the state a pause, resume or
stop put the campaign in, and the counters; it says what the orchestrator does next
(:meth:`CampaignBook.next_step`). It makes no Temporal call and reads no clock (the workflow
passes ``now``), so it is deterministic and unit-tested step by step (tests/processes/
campaigns/test_bookkeeping.py), including the races the workflow must survive.

Why no lead is started twice or skipped: the cursor moves to a lead's position when its start
batch is issued, and every path that ends a run (continue-as-new, completion, stop) first waits
for the starts and the read in flight to resolve; a continued run gets the leads read and not
started (the buffer, in order, at most a window and a page) and reads on after the last of
them, so it starts at once, right after the last started lead, instead of emptying its window
while it reads a page again. A lead workflow id is ``campaign-{campaign}-lead-{lead}``, started with
REJECT_DUPLICATE, so even a second orchestrator over the same campaign cannot start a twin: the
start finds it, and that lead is counted from the existing execution instead.

Why a pause reaches every lead: a pause or resume is forwarded to the leads tracked when it
arrives (:meth:`CampaignBook.take_forward`), and a start batch that was in flight meanwhile
(its leads not tracked yet) sees the control epoch moved when it resolves and tells its own
leads the campaign's state (:meth:`CampaignBook.batch_started`).

Why an outcome is counted once: a lead leaves ``in_flight`` when its outcome is counted, so a
second report (a retried task, a reconcile after the report, the cancel after a stop) finds it
gone and changes nothing; a report that arrives before its start resolved waits in ``early``
(counted when the start resolves, its seat free at once: the window refills in the task that
saw the report, as a raw fan-out starts the next child in the task that saw one complete).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from pydantic import BaseModel

from followthrough.processes.campaigns.graph import StopSignal
from followthrough.processes.campaigns.seats import (
    CampaignCounters,
    CampaignOrchestratorInput,
    CampaignProgress,
    CampaignResult,
    CampaignState,
    CampaignStatus,
    CampaignTotals,
    CheckStartInput,
    LeadExecution,
    LeadExecutionsInput,
    LeadPage,
    LeadRef,
    LoadLeadsInput,
    SetCampaignStatusInput,
    StartLeadsInput,
    StartLeadsResult,
    StopCampaignSignal,
    orchestrator_workflow_id,
)
from followthrough.temporal.signals import PauseSignal, ResumeSignal


class Step(Enum):
    """What the orchestrator's loop does next (:meth:`CampaignBook.next_step`)."""

    STOP = "stop"  # stop (or drain) the leads in flight, then close as stopped
    CONTINUE_AS_NEW = "continue_as_new"  # wait for the starts and the read in flight, then continue
    HOLD = "hold"  # paused: wait for resume, stop, or a signal to forward
    AWAIT_PAGE = "await_page"  # nothing buffered, the read ahead under way: wait for it
    RECHECK = "recheck"  # the list ended and nothing is in flight: read once more before completing
    COMPLETE = "complete"  # every lead started and reported
    DRAIN = "drain"  # no lead left to start: wait for the ones in flight
    FULL = "full"  # every seat taken: wait for one to free
    START = "start"  # start the next batch

    @property
    def fills_window(self) -> bool:
        """A step of the running window, before which the next page may be read ahead."""
        return self not in (Step.STOP, Step.CONTINUE_AS_NEW, Step.HOLD)


#: What the orchestrator tells its leads, by signal name (a stop here never lets them finish).
LEAD_SIGNALS: dict[str, BaseModel] = {
    "pause": PauseSignal(),
    "resume": ResumeSignal(),
    "stop": StopSignal(complete_current_executions=False),
}


# --- rules -------------------------------------------------------------------------------------
def record_outcome(counters: CampaignCounters, outcome: str) -> None:
    """Count a finished lead; an unknown outcome counts as failed (never lost)."""
    if outcome == "succeeded":
        counters.succeeded += 1
    elif outcome == "goal_reached":
        counters.goal_reached += 1
    elif outcome == "stopped":
        counters.stopped += 1
    else:
        counters.failed += 1


def totals(counters: CampaignCounters, running: int) -> CampaignTotals:
    return CampaignTotals(
        total=counters.total,
        pending=max(counters.total - counters.started, 0),
        running=running,
        succeeded=counters.succeeded + counters.goal_reached,
        failed=counters.failed,
        stopped=counters.stopped,
        goal_reached=counters.goal_reached,
    )


def window_room(in_flight: int, max_concurrent: int) -> int:
    """How many lead workflows may start now."""
    return max(max_concurrent - in_flight, 0)


def should_continue_as_new(
    *, started_this_run: int, threshold: int, history_length: int, max_events: int, suggested: bool
) -> bool:
    """Continue as new after a fixed number of starts, or when the history itself grows large."""
    return started_this_run >= threshold or history_length >= max_events or suggested


# --- the book ----------------------------------------------------------------------------------
class CampaignBook:
    """One orchestrator run's bookkeeping; :meth:`progress` is what the next run starts from."""

    def __init__(self, input: CampaignOrchestratorInput) -> None:
        self.input = input
        progress = input.progress or CampaignProgress()
        self.counters: CampaignCounters = progress.counters
        self.cursor = progress.cursor
        self.in_flight: set[str] = set(progress.in_flight)
        self.state: CampaignState = progress.state
        self.stop_completes_current = progress.stop_completes_current
        self.runs = progress.runs
        self.status_recorded = progress.started_status_recorded
        #: When the next reconcile pass is due (workflow time); set on the first wait.
        self.reconcile_at: datetime | None = progress.reconcile_at
        #: Leads read and not started, in order; a continued run starts with the last run's.
        self.buffer: deque[LeadRef] = deque(progress.buffer)
        self.exhausted = False
        #: The position of the last lead read into the buffer (the cursor lags it by the buffer).
        self.read_to = progress.buffer[-1].position if progress.buffer else self.cursor
        #: A page is being read ahead (the workflow holds the task).
        self.loading = False
        self.started_this_run = 0
        #: Lead starts issued and not yet resolved; they hold a window seat.
        self.starting = 0
        #: The ids of those starts: a report from one of them waits in ``early`` for its start.
        self.unresolved: set[str] = set()
        self.batches = 0
        #: The first failure of a background read or start: the loop raises it.
        self.failure: BaseException | None = None
        #: Reports of leads whose start has not resolved yet (within one run).
        self.early: dict[str, str] = {}
        #: Signals to pass on to the leads in flight (pause/resume), in arrival order.
        self.to_forward: list[str] = []
        #: Counts pause/resume: a start batch that resolves after one tells its leads the state.
        self.control_epoch = 0
        #: ``leads_added`` arrived: read after the last lead read, even if the list had ended.
        self.leads_added = False
        #: The store was read once more after the list ended, just before completing.
        self.rechecked = False

    # --- control signals ------------------------------------------------------------------------
    def pause(self) -> None:
        if self.state == "running":
            self.state = "paused"
            self.control_epoch += 1
            self.to_forward.append("pause")

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self.control_epoch += 1
            self.to_forward.append("resume")

    def stop(self, signal: StopCampaignSignal) -> None:
        if self.state in ("stopped", "completed"):
            return
        if self.state == "paused" and signal.complete_current_executions:
            self.to_forward.append("resume")  # held leads must run on to complete
        completes = signal.complete_current_executions
        if self.state == "stopping":  # a second stop may make it harsher (stop now), never gentler
            completes = completes and self.stop_completes_current
        self.stop_completes_current = completes
        self.state = "stopping"

    def stop_now(self) -> None:
        """The orchestrator itself was cancelled: its leads are stopped now, not drained."""
        self.state = "stopping"
        self.stop_completes_current = False

    def take_forward(self) -> str | None:
        """The next pause/resume to pass on to the leads in flight, oldest first."""
        return self.to_forward.pop(0) if self.to_forward else None

    # --- the loop ---------------------------------------------------------------------------------
    def new_pass(self) -> None:
        """Start of a loop pass: raise a background failure; ``leads_added`` re-opens the list."""
        if self.failure is not None:
            raise self.failure
        if self.leads_added and not self.loading:
            self.leads_added, self.exhausted, self.rechecked = False, False, False

    def next_step(self, *, continue_as_new_due: bool) -> Step:
        if self.state == "stopping":
            return Step.STOP
        if continue_as_new_due:
            return Step.CONTINUE_AS_NEW
        if self.state == "paused":
            return Step.HOLD
        if not self.buffer and not self.exhausted:
            return Step.AWAIT_PAGE
        if not self.buffer:
            if not self.idle():
                return Step.DRAIN
            if not self.rechecked:
                self.rechecked = True  # leads appended since the last read run before completing
                return Step.RECHECK
            return Step.COMPLETE
        return Step.START if self.room() >= 1 else Step.FULL

    def continue_as_new_due(self, *, history_length: int, suggested: bool) -> bool:
        return should_continue_as_new(
            started_this_run=self.started_this_run + self.starting,
            threshold=self.input.continue_as_new_after,
            history_length=history_length,
            max_events=self.input.max_history_events,
            suggested=suggested,
        )

    def occupied(self) -> int:
        """Window seats taken: leads in flight and starts not yet resolved, less the leads of
        those starts that already reported (they are done; their seat is free at once, so the
        window refills in the task that saw the report, not when the whole batch resolves)."""
        return len(self.in_flight) + self.starting_unreported()

    def starting_unreported(self) -> int:
        """Seats held by starts not yet resolved whose lead has not reported."""
        return self.starting - len(self.early)

    def room(self) -> int:
        return window_room(self.occupied(), self.input.max_concurrent_leads)

    def has_seat(self) -> bool:
        return self.room() >= 1

    def idle(self) -> bool:
        """No lead in flight and no start unresolved."""
        return not self.in_flight and not self.starting

    def settled(self) -> bool:
        """No start and no read in flight: a run may end."""
        return not self.starting and not self.loading

    def hold_over(self) -> bool:
        return self.state != "paused" or bool(self.to_forward)

    def woken(self, state: CampaignState) -> bool:
        """Something a wait for leads must wake for, besides what it waits for."""
        return self.state != state or bool(self.to_forward) or self.failure is not None or self.leads_added

    def close(self, state: Literal["completed", "stopped"]) -> None:
        self.state = state

    def draining(self) -> bool:
        """A gentle stop still waits for leads in flight to finish on their own."""
        return bool(self.in_flight) and self.stop_completes_current

    # --- reading leads ----------------------------------------------------------------------------
    def read_ahead(self) -> bool:
        """Whether to read the next page in the background now (marks it under way).

        Once no more than a window's worth of leads is buffered: refills then never wait for the
        store (its read took 1-2 s under load, with the window draining meanwhile). The leads a
        read buffered but no run started are read again by the next run, from the cursor."""
        if self.loading or self.exhausted or len(self.buffer) > self.input.max_concurrent_leads:
            return False
        self.loading = True
        return True

    def page_read(self, page: LeadPage) -> None:
        self.counters.total = max(page.total, self.counters.started)
        self.buffer.extend(page.leads)
        if page.leads:
            self.read_to = max(self.read_to, page.leads[-1].position)
            self.rechecked = False
        self.exhausted = not page.has_more or not page.leads

    def read_over(self, failure: BaseException | None = None) -> None:
        """The read ahead ended; its failure, if any, is raised by the next pass."""
        self.failure = self.failure or failure
        self.loading = False

    # --- starting leads ---------------------------------------------------------------------------
    def take_batch(self) -> tuple[list[LeadRef], int]:
        """The next leads to start (one with spacing, else as many as seats are free) and the
        batch's number in this run. Their seats are held until :meth:`batch_over`."""
        size = 1 if self.input.lead_processing_delay_seconds else self.room()
        batch: list[LeadRef] = []
        while self.buffer and len(batch) < size:
            batch.append(self.buffer.popleft())
        self.starting += len(batch)
        self.unresolved.update(lead.lead_id for lead in batch)
        self.batches += 1
        self.cursor = max(self.cursor, *(lead.position for lead in batch))
        return batch, self.batches

    def spacing_due(self) -> bool:
        """Wait ``lead_processing_delay_seconds`` before the next start (not after the last)."""
        return bool(self.input.lead_processing_delay_seconds) and (bool(self.buffer) or not self.exhausted)

    def batch_started(self, result: StartLeadsResult, epoch: int) -> tuple[str, list[str]] | None:
        """Track the leads a batch started (or found from an earlier run: counted, never twinned).

        When a pause or resume came while the batch was in flight (``epoch`` is the control
        epoch when it was issued), the state's signal and the leads still in flight that must
        get it: they were not tracked when the signal was forwarded."""
        tracked: list[str] = []
        for lead_id in result.started:
            self.counters.started += 1
            self.started_this_run += 1
            tracked.append(lead_id)
        for execution in result.existing:
            self.counters.started += 1
            self.counters.already_started += 1
            if execution.running:
                tracked.append(execution.lead_id)
            else:
                record_outcome(self.counters, execution.outcome or "succeeded")
        for lead_id in tracked:
            self._track(lead_id)
        if self.control_epoch == epoch:
            return None
        name = "pause" if self.state == "paused" else "resume"
        return name, [lead for lead in tracked if lead in self.in_flight]

    def batch_over(self, batch: list[LeadRef], failure: BaseException | None = None) -> None:
        """A batch resolved (its seats go back); a failed one is raised by the next pass."""
        self.failure = self.failure or failure
        self.starting -= len(batch)
        for lead in batch:  # a failed batch's early reports go with it (its failure is raised)
            self.unresolved.discard(lead.lead_id)
            self.early.pop(lead.lead_id, None)

    # --- leads reporting --------------------------------------------------------------------------
    def _track(self, lead_id: str) -> None:
        """A lead workflow now runs for us; it may already have reported (``early``)."""
        self.in_flight.add(lead_id)
        early = self.early.pop(lead_id, None)
        if early is not None:
            self.finish(lead_id, early)

    def finish(self, lead_id: str, outcome: str) -> None:
        """Count a lead's outcome once: a second report of a lead no longer in flight (a retried
        report, a reconcile after its report) changes nothing. Leads report the outcome the
        store recorded first (``campaign_executions.finish`` is first-writer-wins). A report
        that overtook its own start waits in ``early`` until the start resolves."""
        if lead_id in self.in_flight:
            self.in_flight.discard(lead_id)
            record_outcome(self.counters, outcome)
        elif lead_id in self.unresolved:  # so ``early`` is bounded by the window
            self.early.setdefault(lead_id, outcome)  # its seat is free now (see occupied)

    def reconciled(self, found: Iterable[LeadExecution], now: datetime) -> None:
        """Count the leads visibility found closed without a report; the next pass is due later."""
        for execution in found:
            if not execution.running and execution.lead_id in self.in_flight:
                self.finish(execution.lead_id, execution.outcome or "failed")
        self.reconcile_at = now + timedelta(seconds=self.input.reconcile_every_seconds)

    def reconcile_in(self, now: datetime) -> timedelta | None:
        """How long a wait for leads may last before the reconcile pass; None: it is due now.

        The pass is due on a clock (carried across continue-as-new): a lead that closed without
        reporting frees its seat within ``reconcile_every_seconds`` even while other leads keep
        reporting."""
        if self.reconcile_at is None:
            self.reconcile_at = now + timedelta(seconds=self.input.reconcile_every_seconds)
        if now >= self.reconcile_at:
            return None
        return self.reconcile_at - now

    def cancelled(self, lead_id: str) -> None:
        """A lead cancelled after the stop's grace counts as stopped, unless it reported meanwhile."""
        if lead_id in self.in_flight:
            self.finish(lead_id, "stopped")

    # --- what is shown, asked and carried ---------------------------------------------------------
    def totals(self) -> CampaignTotals:
        return totals(self.counters, len(self.in_flight))

    def status(self, history_length: int) -> CampaignStatus:
        return CampaignStatus(
            campaign_id=self.input.campaign_id,
            state=self.state,
            totals=self.totals(),
            cursor=self.cursor,
            runs=self.runs,
            history_length=history_length,
            starting=self.starting_unreported(),
        )

    def result(self) -> CampaignResult:
        return CampaignResult(
            campaign_id=self.input.campaign_id, state=self.state, totals=self.totals(), runs=self.runs
        )

    def check_start_input(self) -> CheckStartInput:
        i = self.input
        return CheckStartInput(
            campaign_id=i.campaign_id, organization_id=i.organization_id, sender_account_id=i.sender_account_id
        )

    def load_leads_input(self) -> LoadLeadsInput:
        """The page after the last lead read."""
        return LoadLeadsInput(
            campaign_id=self.input.campaign_id, after_position=self.read_to, limit=self.input.page_size
        )

    def lead_executions_input(self) -> LeadExecutionsInput | None:
        """What to ask visibility on a reconcile pass; None when no lead is in flight."""
        if not self.in_flight:
            return None
        return LeadExecutionsInput(campaign_id=self.input.campaign_id, lead_ids=sorted(self.in_flight))

    def start_leads_input(self, batch: list[LeadRef], started_by: str, task_queue: str) -> StartLeadsInput:
        i = self.input
        return StartLeadsInput(
            campaign_id=i.campaign_id,
            organization_id=i.organization_id,
            sender_account_id=i.sender_account_id,
            lead_ids=[lead.lead_id for lead in batch],
            task_queue=i.lead_task_queue or task_queue,
            parent_workflow_id=orchestrator_workflow_id(i.campaign_id),
            started_by=started_by,
            tag_leads=i.tag_leads,
        )

    def set_status_input(self, status: CampaignState) -> SetCampaignStatusInput:
        return SetCampaignStatusInput(campaign_id=self.input.campaign_id, status=status)

    def progress(self) -> CampaignProgress:
        """What the next run starts from: bounded by the window, never by the lead count."""
        return CampaignProgress(
            cursor=self.cursor,
            counters=self.counters,
            in_flight=sorted(self.in_flight),
            state=self.state,
            stop_completes_current=self.stop_completes_current,
            runs=self.runs + 1,
            started_status_recorded=self.status_recorded,
            reconcile_at=self.reconcile_at,
            buffer=list(self.buffer),
        )
