"""The orchestrator's bookkeeping, driven step by step: every interleaving is forced by the
order of the calls, the way the workflow's signal handlers and tasks would make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from followthrough.processes.campaigns.bookkeeping import CampaignBook, Step
from followthrough.processes.campaigns.seats import (
    CampaignCounters,
    CampaignOrchestratorInput,
    CampaignProgress,
    LeadExecution,
    LeadPage,
    LeadRef,
    StartLeadsResult,
    StopCampaignSignal,
)

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def book(**fields: Any) -> CampaignBook:
    fields = {"max_concurrent_leads": 3, **fields}
    return CampaignBook(
        CampaignOrchestratorInput(campaign_id="c1", organization_id="o1", sender_account_id="s1", **fields)
    )


def page(*positions: int, total: int | None = None, more: bool = False) -> LeadPage:
    leads = [LeadRef(lead_id=f"l{p}", position=p) for p in positions]
    return LeadPage(leads=leads, total=total if total is not None else len(leads), has_more=more)


def step(b: CampaignBook, cas: bool = False) -> Step:
    b.new_pass()
    return b.next_step(continue_as_new_due=cas)


def started(*lead_ids: str) -> StartLeadsResult:
    return StartLeadsResult(started=list(lead_ids))


def running_book(*positions: int, **fields: Any) -> CampaignBook:
    """A book with every lead of ``positions`` read, started and in flight."""
    b = book(**fields)
    b.page_read(page(*positions))
    batch, _ = b.take_batch()
    b.batch_started(started(*(lead.lead_id for lead in batch)), b.control_epoch)
    b.batch_over(batch)
    return b


# --- the sliding window ----------------------------------------------------------------------------
def test_a_fresh_campaign_waits_for_its_first_page_then_starts_a_window_of_leads() -> None:
    b = book()
    assert step(b) is Step.AWAIT_PAGE
    assert b.read_ahead() and not b.read_ahead()  # one read at a time
    b.page_read(page(1, 2, 3, 4, 5))
    b.read_over()
    assert step(b) is Step.START
    batch, number = b.take_batch()
    assert [lead.lead_id for lead in batch] == ["l1", "l2", "l3"] and number == 1
    assert (b.starting, b.cursor, b.occupied()) == (3, 3, 3)
    assert step(b) is Step.FULL and not b.has_seat()


def test_one_report_frees_one_seat_and_the_window_refills_at_once() -> None:
    b = running_book(1, 2, 3, 4, 5)
    assert step(b) is Step.FULL
    b.finish("l2", "succeeded")
    assert b.has_seat() and step(b) is Step.START
    batch, _ = b.take_batch()
    assert [lead.lead_id for lead in batch] == ["l4"]


def test_a_lead_reporting_before_its_batch_resolves_frees_its_seat_at_once() -> None:
    """The window refills in the task that saw the report, not when the whole batch resolves:
    a batch of a window's leads resolves after its last start, long after its first leads ran."""
    b = book(max_concurrent_leads=3)
    b.page_read(page(1, 2, 3, 4, 5, 6))
    first, _ = b.take_batch()
    assert step(b) is Step.FULL and b.status(0).starting == 3
    b.finish("l1", "succeeded")  # started early in the batch, done before the batch's answer
    b.finish("l1", "succeeded")  # a retried report frees nothing more
    assert b.occupied() == 2 and step(b) is Step.START
    second, _ = b.take_batch()
    assert [lead.lead_id for lead in second] == ["l4"] and step(b) is Step.FULL
    assert (b.starting, b.status(0).starting, b.status(0).totals.running) == (4, 3, 0)
    b.batch_started(started("l1", "l2", "l3"), b.control_epoch)
    b.batch_over(first)
    assert b.occupied() == 3 and b.in_flight == {"l2", "l3"} and not b.early
    assert b.counters.succeeded == 1 and b.counters.started == 1 + 2  # l1 counted once
    assert b.status(0).starting == 1 and b.status(0).totals.running == 2


def test_a_failed_batch_drops_its_early_reports_with_its_seats() -> None:
    b = book()
    b.page_read(page(1, 2))
    batch, _ = b.take_batch()
    b.finish("l1", "succeeded")
    b.batch_over(batch, RuntimeError("start failed"))
    assert (b.occupied(), b.starting, b.early, b.unresolved) == (0, 0, {}, set())
    with pytest.raises(RuntimeError):
        b.new_pass()


def test_an_early_report_of_a_lead_found_closed_is_counted_once_and_frees_its_seat() -> None:
    b = book()
    b.page_read(page(1, 2))
    batch, _ = b.take_batch()
    b.finish("l1", "stopped")  # an earlier run's lead, reporting to us while our start finds it
    assert b.occupied() == 1
    b.batch_started(
        StartLeadsResult(started=["l2"], existing=[LeadExecution(lead_id="l1", running=False, outcome="stopped")]),
        b.control_epoch,
    )
    b.batch_over(batch)
    assert (b.counters.stopped, b.occupied(), b.early) == (1, 1, {})


def test_with_spacing_leads_start_one_at_a_time_and_the_last_start_is_not_waited_after() -> None:
    b = book(lead_processing_delay_seconds=5)
    b.page_read(page(1, 2))
    batch, _ = b.take_batch()
    assert len(batch) == 1 and b.spacing_due()
    b.take_batch()
    assert not b.spacing_due()


def test_the_next_page_is_read_ahead_only_once_no_more_than_a_window_is_buffered() -> None:
    b = book()
    b.page_read(page(1, 2, 3, 4, more=True))
    assert not b.read_ahead()  # four buffered, window of three
    b.take_batch()
    assert b.read_ahead()
    b.page_read(page(5, 6))
    b.read_over()
    assert b.exhausted and b.read_to == 6 and not b.read_ahead()


def test_a_campaign_completes_only_after_every_lead_reported_and_one_last_read() -> None:
    b = running_book(1, 2)
    b.exhausted = True
    assert step(b) is Step.DRAIN and not b.idle()
    b.finish("l1", "succeeded")
    b.finish("l2", "goal_reached")
    assert step(b) is Step.RECHECK  # leads appended since the last read run before completing
    b.page_read(page(total=2))
    assert step(b) is Step.COMPLETE
    totals = b.totals()
    assert (totals.total, totals.running, totals.succeeded, totals.goal_reached) == (2, 0, 2, 1)


def test_leads_added_after_the_list_ended_reopen_it_but_not_while_a_read_is_under_way() -> None:
    b = running_book(1)
    b.exhausted = b.rechecked = True
    b.leads_added = True
    b.loading = True
    b.new_pass()
    assert b.exhausted and b.leads_added  # the read under way may predate the new leads
    b.loading = False
    b.new_pass()
    assert not b.exhausted and not b.leads_added and not b.rechecked
    assert b.woken(b.state) is False
    b.leads_added = True
    assert b.woken(b.state)


def test_a_failed_read_or_start_is_raised_by_the_next_pass_and_gives_its_seats_back() -> None:
    b = book()
    b.page_read(page(1, 2))
    batch, _ = b.take_batch()
    b.batch_over(batch, RuntimeError("start failed"))
    assert b.starting == 0 and b.woken(b.state)
    with pytest.raises(RuntimeError, match="start failed"):
        b.new_pass()
    b.read_over(ValueError("later"))
    with pytest.raises(RuntimeError):  # the first failure stays the one raised
        b.new_pass()


# --- continue-as-new -----------------------------------------------------------------------------
def test_continue_as_new_counts_unresolved_starts_and_carries_only_what_the_next_run_needs() -> None:
    b = running_book(1, 2, continue_as_new_after=3)
    b.page_read(page(3, 4, more=True))
    b.finish("l1", "failed")
    b.take_batch()
    assert b.continue_as_new_due(history_length=10, suggested=False)  # two started, one starting
    assert step(b, cas=True) is Step.CONTINUE_AS_NEW and not b.settled()
    progress = b.progress()
    assert progress.in_flight == ["l2"] and progress.cursor == 4 and progress.runs == 1
    assert progress.counters.failed == 1


def test_a_continued_run_resumes_from_the_cursor_state_and_in_flight_of_the_last() -> None:
    carried = CampaignProgress(
        cursor=40,
        counters=CampaignCounters(total=50, started=40, succeeded=38),
        in_flight=["l39", "l40"],
        state="paused",
        runs=2,
    )
    b = book(progress=carried)
    assert (b.read_to, b.runs, b.occupied(), b.state) == (40, 2, 2, "paused")
    assert step(b) is Step.HOLD
    b.finish("l40", "succeeded")
    assert b.totals().model_dump() == {
        "total": 50,
        "pending": 10,
        "running": 1,
        "succeeded": 39,
        "failed": 0,
        "stopped": 0,
        "goal_reached": 0,
    }


def test_a_continued_run_starts_the_leads_read_ahead_at_once_and_reads_on_after_them() -> None:
    """The leads read and not started cross continue-as-new: the next run does not empty its
    window reading them again, starts none twice and skips none."""
    b = running_book(1, 2, continue_as_new_after=2)
    b.finish("l1", "succeeded")
    b.page_read(page(3, 4, 5, 6, more=True))  # the read ahead came back before the run ended
    assert step(b, cas=b.continue_as_new_due(history_length=10, suggested=False)) is Step.CONTINUE_AS_NEW
    progress = b.progress()
    assert [lead.lead_id for lead in progress.buffer] == ["l3", "l4", "l5", "l6"] and progress.cursor == 2

    nxt = book(progress=CampaignProgress.model_validate(progress.model_dump(mode="json")))
    assert step(nxt) is Step.START  # no AWAIT_PAGE: the window refills in the run's first task
    batch, _ = nxt.take_batch()
    assert [lead.lead_id for lead in batch] == ["l3", "l4"] and nxt.cursor == 4  # l2 holds the third seat
    assert nxt.read_ahead() and nxt.load_leads_input().after_position == 6  # on after the last one read
    nxt.page_read(page(7, more=False))
    nxt.read_over()
    assert [lead.lead_id for lead in nxt.buffer] == ["l5", "l6", "l7"]


# --- pause, resume, stop -----------------------------------------------------------------------------
def test_pause_holds_new_starts_and_is_forwarded_once_then_resume_lets_them_go() -> None:
    b = running_book(1, 2, 3, 4)
    b.pause()
    b.pause()  # a second pause changes nothing
    assert step(b) is Step.HOLD and b.hold_over()  # a signal to forward wakes the hold
    assert b.take_forward() == "pause" and b.take_forward() is None
    assert not b.hold_over()
    b.resume()
    assert b.hold_over() and b.take_forward() == "resume"
    b.finish("l1", "succeeded")
    assert step(b) is Step.START


def test_a_pause_while_a_start_batch_is_in_flight_reaches_the_leads_it_starts() -> None:
    """Issue 20's race: the pause is forwarded to the leads tracked when it comes, which do not
    include the batch still inside ``campaigns.start_leads``; that batch tells its own."""
    b = book()
    b.page_read(page(1, 2, 3))
    batch, _ = b.take_batch()
    epoch = b.control_epoch  # the batch is issued
    b.pause()  # arrives while the activity runs
    assert b.take_forward() == "pause" and sorted(b.in_flight) == []  # reaches nobody yet
    missed = b.batch_started(started("l1", "l2"), epoch)
    assert missed == ("pause", ["l1", "l2"])
    b.batch_over(batch)
    assert b.occupied() == 2


def test_a_pause_then_resume_during_the_batch_tells_its_leads_to_run() -> None:
    b = book()
    b.page_read(page(1))
    b.take_batch()
    epoch = b.control_epoch
    b.pause()
    b.resume()
    assert b.batch_started(started("l1"), epoch) == ("resume", ["l1"])


def test_a_batch_resolving_with_no_control_change_tells_its_leads_nothing() -> None:
    b = book()
    b.page_read(page(1))
    b.take_batch()
    assert b.batch_started(started("l1"), b.control_epoch) is None


def test_a_lead_that_reported_before_its_start_resolved_is_counted_and_not_told() -> None:
    b = book()
    b.page_read(page(1, 2))
    b.take_batch()
    epoch = b.control_epoch
    b.finish("l1", "succeeded")  # its report overtook the start's answer
    b.pause()
    assert b.batch_started(started("l1", "l2"), epoch) == ("pause", ["l2"])
    assert b.counters.succeeded == 1 and b.in_flight == {"l2"} and not b.early


def test_a_lead_found_from_an_earlier_run_is_counted_not_twinned() -> None:
    b = book()
    b.page_read(page(1, 2))
    b.take_batch()
    result = StartLeadsResult(
        existing=[
            LeadExecution(lead_id="l1", running=True),
            LeadExecution(lead_id="l2", running=False, outcome="stopped"),
        ]
    )
    b.batch_started(result, b.control_epoch)
    assert b.in_flight == {"l1"} and b.started_this_run == 0
    assert (b.counters.started, b.counters.already_started, b.counters.stopped) == (2, 2, 1)


def test_stop_from_paused_with_completion_resumes_the_held_leads_so_they_can_finish() -> None:
    b = running_book(1, 2)
    b.pause()
    b.take_forward()
    b.stop(StopCampaignSignal(complete_current_executions=True))
    assert step(b) is Step.STOP and b.take_forward() == "resume"
    assert b.draining()
    b.finish("l1", "succeeded")
    b.finish("l2", "succeeded")
    assert not b.draining()


def test_a_second_stop_may_make_it_harsher_never_gentler() -> None:
    b = running_book(1)
    b.stop(StopCampaignSignal(complete_current_executions=False))
    b.stop(StopCampaignSignal(complete_current_executions=True))
    assert not b.stop_completes_current and not b.draining()
    c = running_book(1)
    c.stop(StopCampaignSignal(complete_current_executions=True))
    c.stop(StopCampaignSignal(complete_current_executions=False))
    assert not c.stop_completes_current


def test_stop_wins_over_continue_as_new_and_a_closed_campaign_ignores_control() -> None:
    b = running_book(1)
    b.stop(StopCampaignSignal())
    assert step(b, cas=True) is Step.STOP
    b.close("stopped")
    b.stop(StopCampaignSignal(complete_current_executions=True))
    b.pause()
    b.resume()
    assert b.state == "stopped" and not b.to_forward


def test_a_stop_while_a_batch_is_in_flight_waits_for_it_to_settle() -> None:
    b = book()
    b.page_read(page(1, 2))
    batch, _ = b.take_batch()
    b.stop(StopCampaignSignal())
    assert step(b) is Step.STOP and not b.settled()
    b.batch_started(started("l1", "l2"), b.control_epoch)
    b.batch_over(batch)
    assert b.settled() and b.in_flight == {"l1", "l2"}


# --- outcomes: once, and never changed --------------------------------------------------------------
def test_stop_racing_a_leads_last_task_keeps_the_outcome_it_reported_first() -> None:
    """Issue 20's race: the lead reports ``succeeded``; the stop's cancel and a retried report
    (``stopped``) then change nothing."""
    b = running_book(1, 2)
    b.stop(StopCampaignSignal())
    b.finish("l1", "succeeded")
    b.finish("l1", "stopped")  # a retried task's report
    b.cancelled("l1")  # the cancel after the grace
    b.reconciled([LeadExecution(lead_id="l1", running=False, outcome="stopped")], T0)
    b.cancelled("l2")  # never reported: stopped
    assert (b.counters.succeeded, b.counters.stopped) == (1, 1)
    assert not b.in_flight and "l1" not in b.early


def test_an_early_report_counts_once_when_its_start_resolves() -> None:
    b = book()
    b.page_read(page(1))
    b.take_batch()
    b.finish("l1", "goal_reached")
    b.finish("l1", "failed")  # a second report: the first stays
    assert b.early == {"l1": "goal_reached"} and b.counters.goal_reached == 0
    b.batch_started(started("l1"), b.control_epoch)
    assert b.counters.goal_reached == 1 and not b.in_flight and not b.early


def test_a_report_of_a_lead_this_run_never_started_waits_nowhere() -> None:
    b = running_book(1)
    b.finish("stranger", "succeeded")
    assert not b.early and b.counters.succeeded == 0


def test_an_unknown_or_missing_outcome_counts_as_failed() -> None:
    b = running_book(1, 2)
    b.finish("l1", "exploded")
    b.reconciled([LeadExecution(lead_id="l2", running=False)], T0)
    assert b.counters.failed == 2


# --- reconciling silent leads --------------------------------------------------------------------
def test_the_reconcile_pass_is_due_on_a_clock_set_at_the_first_wait() -> None:
    b = running_book(1, 2, reconcile_every_seconds=60)
    assert b.reconcile_in(T0) == timedelta(seconds=60)
    assert b.reconcile_in(T0 + timedelta(seconds=45)) == timedelta(seconds=15)
    assert b.reconcile_in(T0 + timedelta(seconds=60)) is None
    found = [LeadExecution(lead_id="l1", running=True), LeadExecution(lead_id="l2", running=False, outcome="failed")]
    b.reconciled(found, T0 + timedelta(seconds=61))
    assert b.in_flight == {"l1"} and b.counters.failed == 1
    assert b.reconcile_in(T0 + timedelta(seconds=61)) == timedelta(seconds=60)
    assert b.progress().reconcile_at == T0 + timedelta(seconds=121)


# --- what the workflow asks the activities ---------------------------------------------------------
def test_a_start_batch_carries_ids_only_its_key_and_the_orchestrator_to_report_to() -> None:
    b = book(lead_task_queue="leads", tag_leads=False)
    b.page_read(page(7, 9))
    batch, number = b.take_batch()
    arg = b.start_leads_input(batch, f"run-1:{number}", "campaigns")
    assert arg.lead_ids == ["l7", "l9"] and arg.task_queue == "leads" and not arg.tag_leads
    assert arg.parent_workflow_id == "campaign-c1" and arg.started_by == "run-1:1"
    assert book().start_leads_input(batch, "k", "campaigns").task_queue == "campaigns"


def test_reads_continue_after_the_last_lead_read_and_reconcile_asks_only_for_leads_in_flight() -> None:
    b = book(page_size=50)
    assert b.lead_executions_input() is None
    b.page_read(page(3, 8, more=True))
    assert (b.load_leads_input().after_position, b.load_leads_input().limit) == (8, 50)
    b.take_batch()
    b.batch_started(started("l8", "l3"), b.control_epoch)
    executions = b.lead_executions_input()
    assert executions is not None and executions.lead_ids == ["l3", "l8"]
