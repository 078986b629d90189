"""The orchestrator's pure rules: counting, totals, the window and when to continue as new."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from followthrough.processes.campaigns.bookkeeping import record_outcome, should_continue_as_new, totals, window_room
from followthrough.processes.campaigns.seats import (
    MAX_CONCURRENT_LEADS,
    CampaignCounters,
    CampaignOrchestratorInput,
    lead_workflow_id,
    orchestrator_workflow_id,
    outcome_from_close_status,
)


def test_each_outcome_is_counted_once_and_unknown_ones_as_failed() -> None:
    counters = CampaignCounters(total=6, started=5)
    for outcome in ["succeeded", "goal_reached", "failed", "stopped", "exploded"]:
        record_outcome(counters, outcome)
    assert (counters.succeeded, counters.goal_reached, counters.failed, counters.stopped) == (1, 1, 2, 1)


def test_totals_split_the_campaign_into_pending_running_and_done() -> None:
    counters = CampaignCounters(total=10, started=7, succeeded=2, goal_reached=1, failed=1, stopped=1)
    result = totals(counters, running=2)
    assert result.model_dump() == {
        "total": 10,
        "pending": 3,
        "running": 2,
        "succeeded": 3,
        "failed": 1,
        "stopped": 1,
        "goal_reached": 1,
    }


def test_pending_never_goes_negative_when_leads_were_removed() -> None:
    assert totals(CampaignCounters(total=3, started=5), running=0).pending == 0


def test_window_room_is_what_is_left_of_the_window() -> None:
    assert window_room(0, 100) == 100
    assert window_room(97, 100) == 3
    assert window_room(101, 100) == 0


@pytest.mark.parametrize(
    ("started", "length", "suggested", "expected"),
    [(999, 500, False, False), (1000, 500, False, True), (10, 10_000, False, True), (10, 50, True, True)],
)
def test_continue_as_new_after_a_page_of_starts_or_a_large_history(
    started: int, length: int, suggested: bool, expected: bool
) -> None:
    due = should_continue_as_new(
        started_this_run=started, threshold=1000, history_length=length, max_events=10_000, suggested=suggested
    )
    assert due is expected


def test_a_closed_lead_workflow_maps_to_an_outcome() -> None:
    assert outcome_from_close_status("COMPLETED", {"outcome": "goal_reached"}) == "goal_reached"
    assert outcome_from_close_status("COMPLETED", {"lead_id": "x"}) == "succeeded"
    assert outcome_from_close_status("TERMINATED") == "stopped"
    assert outcome_from_close_status("CANCELED") == "stopped"
    assert outcome_from_close_status("TIMED_OUT") == "failed"
    assert outcome_from_close_status("FAILED") == "failed"


def test_ids_carry_the_campaign_and_the_lead() -> None:
    assert orchestrator_workflow_id("c1") == "campaign-c1"
    assert lead_workflow_id("c1", "l9") == "campaign-c1-lead-l9"


def test_the_window_stays_below_temporals_pending_children_limit() -> None:
    base = {"campaign_id": "c", "organization_id": "o", "sender_account_id": "s"}
    assert CampaignOrchestratorInput(**base, max_concurrent_leads=MAX_CONCURRENT_LEADS).max_concurrent_leads == 1000
    with pytest.raises(ValidationError):
        CampaignOrchestratorInput(**base, max_concurrent_leads=2000)
    with pytest.raises(ValidationError):
        CampaignOrchestratorInput(**{**base, "campaign_id": "has spaces"})
