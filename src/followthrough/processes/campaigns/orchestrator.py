"""CampaignOrchestratorWorkflow: one campaign, any number of leads, a bounded history.

A sliding window of at most ``max_concurrent_leads`` LeadOutreachWorkflow executions runs at a
time; each reports with the ``lead_finished`` signal and the next lead starts (spaced by
``lead_processing_delay_seconds``). Leads are read from the store a page at a time by an
activity, and started in batches by another (``campaigns.start_leads``) as top-level
workflows carrying the campaign's search attributes. After ``continue_as_new_after`` starts
(or when Temporal suggests it, or the history passes ``max_history_events``) the run
continues as new with only the cursor, the counters and the ids in flight (see
:mod:`followthrough.processes.campaigns.seats` for why nothing is lost).

Pause is a gate in the store first, then a signal. The control stores the campaign's status
``paused`` before it signals ``pause`` here, and every LinkedIn action of a lead reads that
status as it runs and refuses while paused (``linkedin_activities``), so no action goes out
once the pause is acknowledged, whatever state a lead's start is in. The signal then stops
new starts and is forwarded to the leads in flight (``_forward_signals``); a start batch
still inside ``campaigns.start_leads`` when a pause or resume arrives tells its leads the
campaign's state as it resolves (``_start_batch``, by ``_control_epoch``), so a lead started
across a pause holds by signal too instead of only by the store's refusal. ``resume`` stores
``running`` first and is forwarded the same way.

Stopping is explicit: ``stop`` without completing signals ``stop`` to every lead in flight and
cancels those that have not reported after ``stop_grace_seconds``; cancelling the orchestrator
itself does the same before it closes. A lead that closes without reporting (terminated, timed
out) is found by the reconcile pass, which describes every lead in flight once every
``reconcile_every_seconds`` on the workflow clock, however busy the campaign is.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.campaigns.graph import (
        LeadFinishedSignal,
        PauseSignal,
        ResumeSignal,
        StopSignal,
    )
    from followthrough.processes.campaigns.seats import (
        CampaignCounters,
        CampaignOrchestratorInput,
        CampaignProgress,
        CampaignResult,
        CampaignState,
        CampaignStatus,
        CheckStartInput,
        LeadExecution,
        LeadExecutionsInput,
        LeadPage,
        LeadRef,
        LeadsAddedSignal,
        LoadLeadsInput,
        PauseCampaignSignal,
        ResumeCampaignSignal,
        SetCampaignStatusInput,
        StartLeadsInput,
        StartLeadsResult,
        StopCampaignSignal,
        lead_workflow_id,
        orchestrator_workflow_id,
        record_outcome,
        should_continue_as_new,
        totals,
        window_room,
    )
    from followthrough.temporal.policies import STORE_CALL_TIMEOUT, STORE_RETRY

#: Lead ids that reported before their start resolved (kept only within one run).
_EARLY_LIMIT = 10_000


#: Outside the sandbox, like LeadOutreachWorkflow (see docs/CONVENTIONS.md, "Sandbox").
@workflow.defn(sandboxed=False)
class CampaignOrchestratorWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "campaign"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    PUBLIC_SIGNALS = frozenset({"pause", "resume", "stop"})
    INTERNAL = {
        "lead_finished": "lead_finished is sent only by the campaign's own lead workflows",
        "leads_added": "leads_added is sent only by the campaign control, after it stored the leads",
    }

    @workflow.init
    def __init__(self, input: CampaignOrchestratorInput) -> None:
        self._input = input
        progress = input.progress or CampaignProgress()
        self._counters: CampaignCounters = progress.counters
        self._cursor = progress.cursor
        self._in_flight: set[str] = set(progress.in_flight)
        self._state: CampaignState = progress.state
        self._stop_completes_current = progress.stop_completes_current
        self._runs = progress.runs
        self._status_recorded = progress.started_status_recorded
        #: When the next reconcile pass is due (workflow time); set on the first wait.
        self._reconcile_at: datetime | None = progress.reconcile_at
        self._buffer: deque[LeadRef] = deque()
        self._exhausted = False
        #: The position of the last lead read into the buffer (the cursor lags it by the buffer).
        self._read_to = self._cursor
        #: A page read ahead (see :meth:`_prefetch`), while it runs.
        self._loading: asyncio.Task[None] | None = None
        self._started_this_run = 0
        #: Lead starts issued and not yet resolved (pipelined starts); they hold a window seat.
        self._starting = 0
        self._start_tasks: set[asyncio.Task[None]] = set()
        self._batches = 0
        self._start_error: BaseException | None = None
        self._early: dict[str, str] = {}
        #: Signals to pass on to the leads in flight (pause/resume), in arrival order.
        self._to_forward: list[str] = []
        #: Counts pause/resume: a start batch that resolves after one tells its leads the state.
        self._control_epoch = 0
        #: ``leads_added`` arrived: read after the last lead read, even if the list had ended.
        self._leads_added = False
        #: The store was read once more after the list ended, just before completing.
        self._rechecked = False

    # --- signals and query ------------------------------------------------------------------
    @workflow.signal
    def lead_finished(self, signal: LeadFinishedSignal) -> None:
        self._finish(signal.lead_id, str(signal.outcome))

    @workflow.signal
    def pause(self, signal: PauseCampaignSignal) -> None:
        if self._state == "running":
            self._state = "paused"
            self._control_epoch += 1
            self._to_forward.append("pause")

    @workflow.signal
    def resume(self, signal: ResumeCampaignSignal) -> None:
        if self._state == "paused":
            self._state = "running"
            self._control_epoch += 1
            self._to_forward.append("resume")

    @workflow.signal
    def leads_added(self, signal: LeadsAddedSignal) -> None:
        self._leads_added = True

    @workflow.signal
    def stop(self, signal: StopCampaignSignal) -> None:
        if self._state in ("stopped", "completed"):
            return
        if self._state == "paused" and signal.complete_current_executions:
            self._to_forward.append("resume")  # held leads must run on to complete
        completes = signal.complete_current_executions
        if self._state == "stopping":  # a second stop may make it harsher (stop now), never gentler
            completes = completes and self._stop_completes_current
        self._stop_completes_current = completes
        self._state = "stopping"

    @workflow.query
    def status(self) -> CampaignStatus:
        return CampaignStatus(
            campaign_id=self._input.campaign_id,
            state=self._state,
            totals=totals(self._counters, len(self._in_flight)),
            cursor=self._cursor,
            runs=self._runs,
            history_length=workflow.info().get_current_history_length(),
        )

    # --- main loop -----------------------------------------------------------------------
    @workflow.run
    async def run(self, input: CampaignOrchestratorInput) -> CampaignResult:
        try:
            return await self._run()
        except asyncio.CancelledError:
            # Cancelling the campaign stops its leads too (ABANDON would leave them running).
            self._state = "stopping"
            self._stop_completes_current = False
            await self._stop_leads_now()
            await self._set_status("stopped")
            raise

    async def _run(self) -> CampaignResult:
        if not self._status_recorded:
            await self._activity(
                "campaigns.check_start",
                CheckStartInput(
                    campaign_id=self._input.campaign_id,
                    organization_id=self._input.organization_id,
                    sender_account_id=self._input.sender_account_id,
                ),
            )
            await self._set_status("running")
            self._status_recorded = True
        while True:
            if self._start_error is not None:
                raise self._start_error
            if self._leads_added and self._loading is None:
                self._leads_added, self._exhausted, self._rechecked = False, False, False
            await self._forward_signals()
            if self._state == "stopping":
                return await self._finish_stopping()
            if self._continue_as_new_due():
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self._starting and self._loading is None
                )
                workflow.continue_as_new(self._next_input())
            if self._state == "paused":
                await workflow.wait_condition(lambda: self._state != "paused" or bool(self._to_forward))
                continue
            self._prefetch()
            if not self._buffer and not self._exhausted:
                await workflow.wait_condition(lambda: self._loading is None)
                continue
            if not self._buffer:
                if not self._in_flight and not self._starting and not self._rechecked:
                    self._rechecked = True  # leads appended since the last read run before completing
                    await self._load_page()
                    continue
                if not self._in_flight and not self._starting:
                    await self._set_status("completed")
                    self._state = "completed"
                    return self._result()
                await self._wait_for_leads(lambda: not self._in_flight and not self._starting)
                continue
            # Start as soon as one seat is free: the window stays full while leads are pending
            # (waiting for a tenth of it to free up left it 37 of 50 full on average).
            window = self._input.max_concurrent_leads
            room = window_room(self._occupied(), window)
            if room < 1:
                await self._wait_for_leads(lambda: self._occupied() < window)  # noqa: B023 - awaited here
                continue
            await self._start_next(room)

    def _result(self) -> CampaignResult:
        return CampaignResult(
            campaign_id=self._input.campaign_id,
            state=self._state,
            totals=totals(self._counters, len(self._in_flight)),
            runs=self._runs,
        )

    def _occupied(self) -> int:
        """Window seats taken: leads in flight and starts not yet resolved."""
        return len(self._in_flight) + self._starting

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return should_continue_as_new(
            started_this_run=self._started_this_run + self._starting,
            threshold=self._input.continue_as_new_after,
            history_length=info.get_current_history_length(),
            max_events=self._input.max_history_events,
            suggested=info.is_continue_as_new_suggested(),
        )

    def _next_input(self) -> CampaignOrchestratorInput:
        progress = CampaignProgress(
            cursor=self._cursor,
            counters=self._counters,
            in_flight=sorted(self._in_flight),
            state=self._state,
            stop_completes_current=self._stop_completes_current,
            runs=self._runs + 1,
            started_status_recorded=self._status_recorded,
            reconcile_at=self._reconcile_at,
        )
        return self._input.model_copy(update={"progress": progress})

    async def _wait_for_leads(self, done: Any) -> None:
        """Wait for ``done``, a control signal, or the next reconcile pass.

        The pass is due on a clock (``_reconcile_at``, carried across continue-as-new): a lead
        that closed without reporting frees its seat within ``reconcile_every_seconds`` even
        while other leads keep reporting (a pass due only after that long without any wake-up
        let a terminated lead hold its seat in a busy campaign until the campaign's end).
        """
        state = self._state
        now = workflow.now()
        if self._reconcile_at is None:
            self._reconcile_at = now + timedelta(seconds=self._input.reconcile_every_seconds)
        if now >= self._reconcile_at:
            await self._reconcile_in_flight()
            return
        try:
            await workflow.wait_condition(
                lambda: (
                    done()
                    or self._state != state
                    or bool(self._to_forward)
                    or self._start_error is not None
                    or self._leads_added
                ),
                timeout=self._reconcile_at - now,
            )
        except TimeoutError:
            await self._reconcile_in_flight()

    async def _reconcile_in_flight(self) -> None:
        await self._reconcile(sorted(self._in_flight))
        self._reconcile_at = workflow.now() + timedelta(seconds=self._input.reconcile_every_seconds)

    # --- leads ------------------------------------------------------------------------------
    async def _load_page(self) -> None:
        """Read the page after the last lead read."""
        page: LeadPage = await self._activity(
            "campaigns.load_leads",
            LoadLeadsInput(
                campaign_id=self._input.campaign_id, after_position=self._read_to, limit=self._input.page_size
            ),
            result_type=LeadPage,
        )
        self._counters.total = max(page.total, self._counters.started)
        self._buffer.extend(page.leads)
        if page.leads:
            self._read_to = max(self._read_to, page.leads[-1].position)
            self._rechecked = False
        self._exhausted = not page.has_more or not page.leads

    def _prefetch(self) -> None:
        """Read the next page in the background once no more than a window's worth of leads is
        buffered: refills then never wait for the store (its read took 1-2 s under load, with
        the window draining meanwhile). Every path that ends a run waits for the read first; the
        leads it buffered but did not start are read again by the next run, from the cursor."""
        if self._loading is None and not self._exhausted and len(self._buffer) <= self._input.max_concurrent_leads:
            self._loading = asyncio.create_task(self._load_ahead())

    async def _load_ahead(self) -> None:
        try:
            await self._load_page()
        except Exception as err:  # raised again by the loop, as an awaited read would have been
            self._start_error = self._start_error or err
        finally:
            self._loading = None

    async def _start_next(self, room: int) -> None:
        """Start the next lead (or, with no spacing, up to ``room`` of them at once).

        A batch goes to the ``campaigns.start_leads`` activity and the loop goes on at once; the
        batch holds its window seats until the activity answers. The leads are top-level
        workflows (not children) that report with ``lead_finished``: started as children here,
        with the loop waiting for each batch, they cost the orchestrator an initiated, a
        started, a completed event and a signal per lead, and its window refilled in pulses
        (about 16 of 100 seats in use on average). Every path that ends a run (continue-as-new,
        completion, stop) first waits for ``_starting`` to reach zero, so the cursor may move
        when the batch is issued: no lead is lost or started twice across runs.
        """
        delay = self._input.lead_processing_delay_seconds
        batch: list[LeadRef] = []
        while self._buffer and len(batch) < (1 if delay else room):
            batch.append(self._buffer.popleft())
        self._starting += len(batch)
        self._batches += 1
        task = asyncio.create_task(self._start_batch(batch, f"{workflow.info().run_id}:{self._batches}"))
        self._start_tasks.add(task)  # held: the event loop keeps only weak references
        task.add_done_callback(self._start_tasks.discard)
        self._cursor = max(self._cursor, *(lead.position for lead in batch))
        if delay and (self._buffer or not self._exhausted):
            try:
                await workflow.wait_condition(lambda: self._state == "stopping", timeout=timedelta(seconds=delay))
            except TimeoutError:
                pass

    async def _start_batch(self, batch: list[LeadRef], started_by: str) -> None:
        """Run one batch through ``campaigns.start_leads`` and track its leads. A pause or resume
        that came while the batch was in flight never reached its leads (they were not tracked
        yet): they are told the campaign's state here, before the batch gives its seats back."""
        epoch = self._control_epoch
        try:
            result: StartLeadsResult = await self._activity(
                "campaigns.start_leads",
                StartLeadsInput(
                    campaign_id=self._input.campaign_id,
                    organization_id=self._input.organization_id,
                    sender_account_id=self._input.sender_account_id,
                    lead_ids=[lead.lead_id for lead in batch],
                    task_queue=self._input.lead_task_queue or workflow.info().task_queue,
                    parent_workflow_id=orchestrator_workflow_id(self._input.campaign_id),
                    started_by=started_by,
                    tag_leads=self._input.tag_leads,
                ),
                result_type=StartLeadsResult,
            )
        except Exception as err:  # raised again by the loop, as an awaited start would have been
            self._start_error = self._start_error or err
            self._starting -= len(batch)
            return
        try:
            tracked: list[str] = []
            for lead_id in result.started:
                self._counters.started += 1
                self._started_this_run += 1
                tracked.append(lead_id)
            for execution in result.existing:  # an earlier campaign run's: count it, never twin it
                self._counters.started += 1
                self._counters.already_started += 1
                if execution.running:
                    tracked.append(execution.lead_id)
                else:
                    record_outcome(self._counters, execution.outcome or "succeeded")
            for lead_id in tracked:
                self._track(lead_id)
            if self._control_epoch != epoch:
                name = "pause" if self._state == "paused" else "resume"
                arg = PauseSignal() if name == "pause" else ResumeSignal()
                await self._signal_leads(name, arg, [lead for lead in tracked if lead in self._in_flight])
        finally:
            self._starting -= len(batch)

    def _track(self, lead_id: str) -> None:
        """A lead workflow now runs for us; it may already have reported (``_early``)."""
        self._in_flight.add(lead_id)
        early = self._early.pop(lead_id, None)
        if early is not None:
            self._finish(lead_id, early)

    def _finish(self, lead_id: str, outcome: str) -> None:
        """Count a lead's outcome once: a second report of a lead no longer in flight (a retried
        report, a reconcile after its report) changes nothing. Leads report the outcome the
        store recorded first (``campaign_executions.finish`` is first-writer-wins)."""
        if lead_id in self._in_flight:
            self._in_flight.discard(lead_id)
            record_outcome(self._counters, outcome)
        elif len(self._early) < _EARLY_LIMIT:
            self._early.setdefault(lead_id, outcome)

    def _finish_if_in_flight(self, lead_id: str, outcome: str) -> None:
        if lead_id in self._in_flight:
            self._finish(lead_id, outcome)

    async def _reconcile(self, lead_ids: list[str]) -> None:
        """Leads silent for a long time: ask visibility whether their workflows have closed."""
        if not lead_ids:
            return
        found = await self._activity(
            "campaigns.lead_executions",
            LeadExecutionsInput(campaign_id=self._input.campaign_id, lead_ids=lead_ids),
            result_type=list[LeadExecution],
        )
        for execution in found:
            if not execution.running:
                self._finish_if_in_flight(execution.lead_id, execution.outcome or "failed")

    # --- control ----------------------------------------------------------------------------
    async def _forward_signals(self) -> None:
        while self._to_forward:
            name = self._to_forward.pop(0)
            await self._signal_leads(name, PauseSignal() if name == "pause" else ResumeSignal())

    async def _signal_leads(self, name: str, arg: Any, lead_ids: list[str] | None = None) -> None:
        async def one(lead_id: str) -> None:
            handle = workflow.get_external_workflow_handle(lead_workflow_id(self._input.campaign_id, lead_id))
            try:
                await handle.signal(name, arg)
            except Exception:  # noqa: BLE001 - it closed meanwhile; its report (or reconcile) counts it
                workflow.logger.debug("lead %s did not take %s", lead_id, name)

        targets = sorted(self._in_flight) if lead_ids is None else lead_ids
        await asyncio.gather(*(one(lead_id) for lead_id in targets))

    async def _finish_stopping(self) -> CampaignResult:
        if self._starting or self._loading is not None:  # every issued start resolves first, so
            await workflow.wait_condition(lambda: not self._starting and self._loading is None)  # the stop reaches it
        if self._stop_completes_current:
            while self._in_flight and self._stop_completes_current:
                await self._forward_signals()
                await self._wait_for_leads(lambda: not self._in_flight or not self._stop_completes_current)
        if self._in_flight:
            await self._stop_leads_now()
        self._state = "stopped"
        await self._set_status("stopped")
        return self._result()

    async def _stop_leads_now(self) -> None:
        """Signal ``stop`` to every lead in flight; cancel the ones that do not report in time."""
        await self._signal_leads("stop", StopSignal(complete_current_executions=False))
        try:
            await workflow.wait_condition(
                lambda: not self._in_flight, timeout=timedelta(seconds=self._input.stop_grace_seconds)
            )
        except TimeoutError:
            pass
        for lead_id in sorted(self._in_flight):
            handle = workflow.get_external_workflow_handle(lead_workflow_id(self._input.campaign_id, lead_id))
            try:
                await handle.cancel()
            except Exception:  # noqa: BLE001 - already closed
                workflow.logger.debug("lead %s already closed", lead_id)
            self._finish(lead_id, "stopped")

    async def _set_status(self, status: CampaignState) -> None:
        await self._activity(
            "campaigns.set_status", SetCampaignStatusInput(campaign_id=self._input.campaign_id, status=status)
        )

    async def _activity(self, name: str, arg: Any, result_type: Any = None) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            start_to_close_timeout=STORE_CALL_TIMEOUT,
            retry_policy=STORE_RETRY,
            result_type=result_type,
        )
