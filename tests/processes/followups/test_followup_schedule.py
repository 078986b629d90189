"""The follow-up schedule as a pure function: instants, skips, reschedules, stops."""

from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from followthrough.leads.models import Lead
from followthrough.processes.followups import rules
from followthrough.processes.followups.rules import DemoChangedSignal, FollowUpInput

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
DEMO = datetime(2025, 3, 12, 16, 0, tzinfo=UTC)
DEMO_END = DEMO + timedelta(minutes=45)
LEAD = Lead(id="lead-1", phone="+5215512345678", name="Ana Pérez", language="es")


def _plan(type: str, *, start: datetime | None = DEMO, end: datetime | None = DEMO_END, now: datetime = NOW):
    return rules.plan(type, demo_start=start, demo_end=end, triggered_at=NOW, now=now)


@pytest.mark.parametrize(
    ("type", "expected"),
    [
        ("pre_demo_24h", [("24h_before", DEMO - timedelta(hours=24))]),
        ("pre_demo_reminder", [("30min_before", DEMO - timedelta(minutes=30))]),
        ("post_demo", [("2min_after", DEMO_END + timedelta(minutes=2))]),
        ("said_later", [("12h_after", NOW + timedelta(hours=12))]),
        (
            "cold_lead_reengagement",
            [
                ("24h", NOW + timedelta(hours=24)),
                ("60h", NOW + timedelta(hours=60)),
                ("168h", NOW + timedelta(hours=168)),
            ],
        ),
    ],
)
def test_each_type_is_due_at_its_absolute_instants(type: str, expected: list[tuple[str, datetime]]) -> None:
    steps = _plan(type)
    assert [(s.name, s.due_at) for s in steps] == expected
    assert all(s.state == "pending" for s in steps)
    assert [s.index for s in steps] == list(range(1, len(expected) + 1))


def test_a_demo_sooner_than_the_offset_skips_the_message() -> None:
    demo_in_20_min = NOW + timedelta(minutes=20)
    [step] = _plan("pre_demo_reminder", start=demo_in_20_min, end=demo_in_20_min + timedelta(hours=1))
    assert step.state == "skipped"
    assert step.due_at == NOW - timedelta(minutes=10)
    assert "passed" in (step.reason or "")


def test_a_step_due_exactly_now_is_still_sent() -> None:
    [step] = _plan("pre_demo_24h", start=NOW + timedelta(hours=24))
    assert step.state == "pending"


def test_a_demo_in_the_past_skips_every_step() -> None:
    steps = _plan("post_demo", start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    assert [s.state for s in steps] == ["skipped"]
    assert rules.next_pending(steps) is None


def test_reschedule_moves_pending_steps_and_keeps_sent_ones() -> None:
    steps = _plan("pre_demo_24h")
    later = DEMO + timedelta(days=2)
    moved = rules.reschedule("pre_demo_24h", steps, demo_start=later, demo_end=None, now=NOW)
    assert moved[0].due_at == later - timedelta(hours=24)
    assert moved[0].state == "pending"

    sent = [steps[0].model_copy(update={"state": "sent"})]
    assert rules.reschedule("pre_demo_24h", sent, demo_start=later, demo_end=None, now=NOW) == sent


def test_reschedule_into_the_near_future_skips_what_has_passed() -> None:
    steps = _plan("pre_demo_24h")
    soon = NOW + timedelta(hours=3)
    [step] = rules.reschedule("pre_demo_24h", steps, demo_start=soon, demo_end=None, now=NOW)
    assert step.state == "skipped"
    assert "moved" in (step.reason or "")


def test_reschedule_ignores_types_not_tied_to_a_demo() -> None:
    steps = _plan("said_later")
    assert rules.reschedule("said_later", steps, demo_start=DEMO, demo_end=DEMO_END, now=NOW) == steps


def test_a_new_start_alone_keeps_the_demo_length() -> None:
    new_start = DEMO + timedelta(days=1)
    assert rules.moved_demo(DEMO, DEMO_END, new_start, None) == (new_start, new_start + timedelta(minutes=45))
    assert rules.moved_demo(DEMO, DEMO_END, None, DEMO_END + timedelta(minutes=15)) == (
        DEMO,
        DEMO_END + timedelta(minutes=15),
    )


def test_cancel_pending_leaves_sent_and_skipped_alone() -> None:
    steps = _plan("cold_lead_reengagement")
    steps[0] = steps[0].model_copy(update={"state": "sent"})
    steps[1] = steps[1].model_copy(update={"state": "skipped"})
    result = rules.cancel_pending(steps, "lead_replied")
    assert [s.state for s in result] == ["sent", "skipped", "cancelled"]
    assert result[2].reason == "lead_replied"


def test_next_pending_is_the_earliest() -> None:
    steps = _plan("cold_lead_reengagement")
    steps[0] = steps[0].model_copy(update={"state": "sent"})
    assert rules.next_pending(steps) == steps[1]


def test_only_reengagement_stops_on_demo_booked() -> None:
    assert rules.stop_reason("cold_lead_reengagement", "demo_booked") == "demo_booked"
    assert rules.stop_reason("said_later", "demo_booked") is None
    assert rules.stop_reason("post_demo", "lead_replied") == "lead_replied"
    assert rules.stop_reason("said_later", "opted_out") == "opted_out"


def test_a_late_timer_is_too_late_past_the_tolerance() -> None:
    [step] = _plan("said_later")
    assert not rules.too_late(step, step.due_at + rules.MAX_LATENESS)
    assert rules.too_late(step, step.due_at + rules.MAX_LATENESS + timedelta(seconds=1))


def test_message_key_carries_lead_type_step_and_instant() -> None:
    [step] = _plan("pre_demo_24h")
    assert (
        rules.message_key("lead-1", "pre_demo_24h", step) == "followup:lead-1:pre_demo_24h:24h_before@20250311T160000Z"
    )


def test_input_requires_the_demo_for_demo_types() -> None:
    with pytest.raises(pydantic.ValidationError, match="pre_demo_24h needs demo_start"):
        FollowUpInput(lead=LEAD, type="pre_demo_24h")
    with pytest.raises(pydantic.ValidationError, match="post_demo needs demo_end"):
        FollowUpInput(lead=LEAD, type="post_demo", demo_start=DEMO)
    with pytest.raises(pydantic.ValidationError, match="demo_end must be after demo_start"):
        FollowUpInput(lead=LEAD, type="pre_demo_24h", demo_start=DEMO, demo_end=DEMO)
    assert FollowUpInput(lead=LEAD, type="said_later").demo_start is None


def test_input_instants_are_normalised_to_utc() -> None:
    cdmx = datetime(2025, 3, 12, 10, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("America/Mexico_City"))
    item = FollowUpInput(lead=LEAD, type="pre_demo_reminder", demo_start=cdmx)
    assert item.demo_start is not None and item.demo_start.tzinfo == UTC and item.demo_start.hour == 10


def test_naive_instants_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        FollowUpInput(lead=LEAD, type="pre_demo_reminder", demo_start=datetime(2025, 3, 12, 10, 0))


def test_demo_changed_must_say_something() -> None:
    with pytest.raises(pydantic.ValidationError):
        DemoChangedSignal()
    assert DemoChangedSignal(cancelled=True).cancelled
