"""A lead's decisions, driven step by step without Temporal: what its signals do, where the
walk goes after each step, with what outcome it ends, and what one step records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeout

from followthrough.processes.campaigns import linkedin_activities
from followthrough.processes.campaigns.graph import (
    CampaignGraph,
    DelayNode,
    LeadOutcome,
    StepResult,
    StopSignal,
)
from followthrough.processes.campaigns.lead_rules import (
    CAMPAIGN_PAUSED,
    GRANT_GRACE,
    LEAD_DEADLINE,
    STORE_PAUSE_RECHECK,
    Ending,
    Interrupted,
    LeadBook,
    action_detail,
    action_failure,
    delay_until,
    describe,
    next_poll,
)
from followthrough.processes.campaigns.sending_window import SenderLimits, SlotGrant
from followthrough.providers.contracts.linkedin import InvitationResult

T0 = datetime(2026, 1, 9, 10, tzinfo=UTC)  # a Friday

#: visit -> accepted? (yes: message -> end; no: goal)
GRAPH = CampaignGraph.model_validate(
    {
        "nodes": [
            {"id": "visit", "kind": "action", "action": "profile_visit"},
            {"id": "accepted", "kind": "condition", "condition": "invitation_accepted", "within_days": 3},
            {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi"}},
            {"id": "done", "kind": "end"},
            {"id": "won", "kind": "goal"},
        ],
        "edges": [
            {"source": "visit", "target": "accepted"},
            {"source": "accepted", "target": "hello", "branch": "true"},
            {"source": "accepted", "target": "won", "branch": "false"},
            {"source": "hello", "target": "done"},
        ],
    }
)


def done(node_id: str, kind: str = "action", **update: Any) -> StepResult:
    return StepResult(step=0, node_id=node_id, kind=kind, **update)


def walked_to(book: LeadBook, node_id: str) -> Any:
    node = book.begin(GRAPH)
    while not isinstance(node, Ending) and node.id != node_id:
        branch = True if node.kind == "condition" else None
        node = book.stepped(GRAPH, node, done(node.id, node.kind, branch=branch))
    return node


def grant(at: datetime) -> SlotGrant:
    return SlotGrant(request_key="k", action="profile_visit", at=at, day="2026-01-09", week="2026-W02")


# --- the walk ---------------------------------------------------------------------------------------
def test_the_walk_follows_the_branch_and_numbers_every_step() -> None:
    book = LeadBook()
    first = book.begin(GRAPH)
    assert not isinstance(first, Ending) and first.id == "visit" and book.total >= 3
    node = book.stepped(GRAPH, first, done("visit"))
    assert not isinstance(node, Ending) and node.id == "accepted" and book.node == "accepted"
    ending = book.stepped(GRAPH, node, done("accepted", "condition", branch=False))
    assert ending == Ending(LeadOutcome.GOAL_REACHED, "won") and book.node == "won"
    assert [s.step for s in book.steps] == [1, 2] and book.unrecorded == book.steps


def test_a_stop_after_the_last_action_leaves_the_lead_succeeded() -> None:
    """Issue 20's race: the stop arrives during the lead's final task; the outcome is decided
    from the history alone and stays ``succeeded``."""
    book = LeadBook()
    hello = walked_to(book, "hello")
    book.stop(StopSignal())
    assert book.stepped(GRAPH, hello, done("hello")) == Ending(LeadOutcome.SUCCEEDED, "done")


def test_a_stop_before_the_last_action_ends_the_lead_stopped_at_the_step_done() -> None:
    book = LeadBook()
    visit = book.begin(GRAPH)
    assert not isinstance(visit, Ending)
    book.stop(StopSignal(complete_current_executions=True))
    assert book.stepped(GRAPH, visit, done("visit")) == Ending(LeadOutcome.STOPPED, "visit")
    assert book.node == "visit" and book.step == 1


def test_a_failed_or_cancelled_step_ends_the_lead_there() -> None:
    book = LeadBook()
    visit = walked_to(book, "visit")
    assert book.stepped(GRAPH, visit, done("visit", status="failed")) == Ending(LeadOutcome.FAILED, "visit")
    other = LeadBook()
    visit = walked_to(other, "visit")
    other.stop(StopSignal())
    assert other.stepped(GRAPH, visit, done("visit", status="cancelled")) == Ending(LeadOutcome.STOPPED, "visit")


def test_a_reply_ends_the_lead_with_its_goal_unless_the_graph_goes_on() -> None:
    book = LeadBook()
    book.begin(GRAPH)
    book.reply()
    with pytest.raises(Interrupted) as raised:
        book.check()
    assert raised.value.outcome is LeadOutcome.GOAL_REACHED
    going_on = LeadBook()
    going_on.begin(GRAPH.model_copy(update={"stop_on_reply": False}))
    going_on.reply()
    going_on.check()  # nothing raised: ``replied`` conditions see it instead
    assert going_on.interrupt() is None and going_on.replied


def test_steps_leave_the_unrecorded_list_only_once_stored() -> None:
    book = LeadBook()
    walked_to(book, "hello")
    assert len(book.unrecorded) == 2
    book.recorded(1)
    assert [s.node_id for s in book.unrecorded] == ["accepted"] and len(book.steps) == 2


# --- signals ------------------------------------------------------------------------------------------
def test_a_second_stop_may_cancel_the_action_under_way_never_spare_it() -> None:
    book = LeadBook()
    book.stop(StopSignal(complete_current_executions=True))
    assert not book.must_cancel()
    book.stop(StopSignal(complete_current_executions=False))
    book.stop(StopSignal(complete_current_executions=True))
    assert book.must_cancel()


def test_a_store_refusal_holds_the_lead_unless_a_resume_came_meanwhile() -> None:
    book = LeadBook()
    before = book.resumes
    book.refused_while_paused(before)
    assert book.paused and book.held_by_store and book.hold_timeout() == STORE_PAUSE_RECHECK
    book.resume()
    assert not book.paused and book.hold_timeout() is None
    stale = book.resumes - 1
    book.refused_while_paused(stale)  # refused before the latest resume
    assert not book.paused


def test_a_signal_pause_waits_for_resume_and_a_lapsed_store_hold_tries_again() -> None:
    book = LeadBook()
    book.pause()
    assert book.hold_timeout() is None
    book.refused_while_paused(book.resumes)
    book.hold_lapsed()
    assert not book.paused and not book.held_by_store


def test_a_slot_is_given_back_when_paused_stopped_or_too_late() -> None:
    book = LeadBook()
    slot = grant(T0)
    assert not book.give_back(slot, T0 + GRANT_GRACE)
    assert book.give_back(slot, T0 + GRANT_GRACE + timedelta(seconds=1))
    book.pause()
    assert book.give_back(slot, T0)
    resumed = LeadBook()
    resumed.stop(StopSignal())
    assert resumed.give_back(slot, T0)


def test_waits_end_at_the_deadline_and_past_it_the_lead_fails_unless_stopped() -> None:
    book = LeadBook(deadline=T0 + LEAD_DEADLINE)
    day_before = T0 + LEAD_DEADLINE - timedelta(days=1)
    assert book.bound(timedelta(days=3), day_before) == timedelta(days=1)
    assert book.bound(timedelta(hours=1), day_before) == timedelta(hours=1)
    assert book.bound(None, day_before) == timedelta(days=1)  # a hold on a signal ends there too
    book.clock(day_before)
    book.check()  # not yet
    book.clock(T0 + LEAD_DEADLINE)
    assert book.bound(timedelta(days=3), T0 + LEAD_DEADLINE + timedelta(days=1)) == timedelta(0)
    with pytest.raises(Interrupted) as raised:
        book.check()
    assert raised.value.outcome == LeadOutcome.FAILED
    assert book.give_back(grant(T0 + LEAD_DEADLINE), T0 + LEAD_DEADLINE)
    book.stop(StopSignal())
    assert book.interrupt() == LeadOutcome.STOPPED  # a stop that came first still says stopped
    assert LeadBook().bound(None, T0) is None  # no deadline: waits keep their own timeout


def test_each_slot_request_has_its_own_key() -> None:
    book = LeadBook()
    walked_to(book, "visit")
    assert [book.slot_request_key("wf") for _ in range(2)] == ["wf:visit:1", "wf:visit:2"]


def test_the_status_shows_a_running_lead_held_by_a_pause_as_paused() -> None:
    book = LeadBook()
    assert book.status().state == "loading"
    walked_to(book, "hello")
    book.pause()
    status = book.status()
    assert (status.state, status.current_node, status.current_step) == ("paused", "hello", 2)
    book.finished(LeadOutcome.STOPPED)
    assert book.status().state == "finished" and book.status().outcome is LeadOutcome.STOPPED


# --- one step's details --------------------------------------------------------------------------------
def test_a_calendar_delay_adds_its_unit_and_a_sending_day_delay_skips_the_weekend() -> None:
    limits = SenderLimits()
    hours = DelayNode(id="d", kind="delay", duration=5, unit="calendar", calendar_unit="hours")
    assert delay_until(hours, T0, limits) == T0 + timedelta(hours=5)
    sending = DelayNode(id="d", kind="delay", duration=1, unit="sending_days")
    assert delay_until(sending, T0, limits) == limits.window.add_sending_days(T0, 1)
    assert delay_until(sending, T0, limits).weekday() not in (5, 6)


def _activity_error(cause: BaseException) -> ActivityError:
    err = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="linkedin.visit_profile",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    err.__cause__ = cause
    return err


def test_an_action_failure_is_a_pause_a_timeout_or_a_failure() -> None:
    paused = _activity_error(ApplicationError("paused", type=CAMPAIGN_PAUSED))
    timed_out = _activity_error(ActivityTimeout("late", type=TimeoutType.SCHEDULE_TO_CLOSE, last_heartbeat_details=[]))
    refused = _activity_error(ApplicationError("no such profile", type="ValidationError"))
    assert [action_failure(e) for e in (paused, timed_out, refused)] == ["paused", "timed_out", "failed"]
    assert describe(refused) == "ValidationError: no such profile"


def test_the_pause_error_name_is_the_one_the_linkedin_activities_raise() -> None:
    assert CAMPAIGN_PAUSED == linkedin_activities.CAMPAIGN_PAUSED


def test_an_action_records_the_providers_answer_and_its_slot_and_keeps_the_invitation() -> None:
    book = LeadBook()
    invitation = InvitationResult(invitation_id="inv-1", provider_id="p-1")
    book.acted(invitation)
    assert book.invitation_id == "inv-1"
    detail = action_detail(invitation, grant(T0))
    assert detail["invitation_id"] == "inv-1" and detail["slot"] == T0.isoformat()
    assert action_detail(None, None) == {}


def test_an_invitation_is_polled_daily_but_never_past_the_deadline() -> None:
    assert next_poll(T0, T0 + timedelta(days=3)) == T0 + timedelta(days=1)
    assert next_poll(T0, T0 + timedelta(hours=5)) == T0 + timedelta(hours=5)
