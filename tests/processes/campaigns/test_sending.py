"""Sending windows, caps and spacing: the pure rules the sender workflow applies."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pydantic
import pytest

from followthrough.processes.campaigns.graph import ActionType
from followthrough.processes.campaigns.sending_window import (
    SenderLedger,
    SenderLimits,
    SendingWindow,
    grant_slot,
    limits_from_account,
    plan_slot,
    prune,
    release_slot,
)

MADRID = ZoneInfo("Europe/Madrid")
NO_GAP = timedelta(0)


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID).astimezone(UTC)  # type: ignore[misc]


def limits(**kwargs: object) -> SenderLimits:
    values: dict[str, object] = {
        "window": {"timezone": "Europe/Madrid"},
        "min_spacing_seconds": 0,
        "max_spacing_seconds": 0,
    }
    values.update(kwargs)
    return SenderLimits.model_validate(values)


def test_saturday_night_goes_out_monday_at_nine_local() -> None:
    window = SendingWindow(timezone="Europe/Madrid")
    # 2025-03-08 is a Saturday
    assert window.next_open(madrid(2025, 3, 8, 3, 0)) == madrid(2025, 3, 10, 9, 0)


def test_inside_the_window_is_now_and_the_end_is_exclusive() -> None:
    window = SendingWindow(timezone="America/New_York")
    ny = ZoneInfo("America/New_York")
    inside = datetime(2025, 3, 5, 17, 59, tzinfo=ny)
    assert window.next_open(inside) == inside
    assert window.next_open(datetime(2025, 3, 5, 18, 0, tzinfo=ny)) == datetime(2025, 3, 6, 9, 0, tzinfo=ny)
    assert window.next_open(datetime(2025, 3, 5, 7, 0, tzinfo=ny)) == datetime(2025, 3, 5, 9, 0, tzinfo=ny)


def test_friday_evening_waits_for_monday() -> None:
    window = SendingWindow(timezone="Europe/Madrid")
    assert window.next_open(madrid(2025, 3, 7, 18, 30)) == madrid(2025, 3, 10, 9, 0)


def test_the_window_follows_daylight_saving_time() -> None:
    window = SendingWindow(timezone="Europe/Madrid")
    # Clocks go forward on 2025-03-30: 09:00 local is 08:00 UTC before and 07:00 UTC after.
    assert window.next_open(madrid(2025, 3, 29, 3, 0)) == datetime(2025, 3, 31, 7, 0, tzinfo=UTC)
    assert window.next_open(madrid(2025, 3, 28, 3, 0)) == datetime(2025, 3, 28, 8, 0, tzinfo=UTC)


def test_sending_days_skip_the_weekend() -> None:
    window = SendingWindow(timezone="Europe/Madrid")
    assert window.add_sending_days(madrid(2025, 3, 7, 15, 0), 1) == madrid(2025, 3, 10, 15, 0)
    assert window.add_sending_days(madrid(2025, 3, 7, 15, 0), 6) == madrid(2025, 3, 17, 15, 0)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown time zone"):
        SendingWindow(timezone="Mars/Olympus")
    with pytest.raises(pydantic.ValidationError, match="end after it starts"):
        SendingWindow(start=time(18), end=time(9))
    with pytest.raises(pydantic.ValidationError, match="ISO weekdays"):
        SendingWindow(days=[0, 8])


def test_bad_caps_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown action type"):
        SenderLimits(daily_caps={"teleport": 3})
    with pytest.raises(pydantic.ValidationError, match="at least 1"):
        SenderLimits(daily_caps={"profile_visit": 0})
    with pytest.raises(pydantic.ValidationError, match="max_spacing_seconds"):
        SenderLimits(min_spacing_seconds=10, max_spacing_seconds=5)


def test_default_caps() -> None:
    default = SenderLimits()
    assert default.daily_cap(ActionType.PROFILE_VISIT) == 150
    assert default.daily_cap(ActionType.SEND_MESSAGE) == 100
    assert default.weekly_cap(ActionType.SEND_INVITATION) == 100
    # 100 a week spread over five working days
    assert default.daily_cap(ActionType.SEND_INVITATION) == 20
    assert default.weekly_cap(ActionType.PROFILE_VISIT) is None
    assert not default.unlimited
    assert SenderLimits.lifted().unlimited


def test_daily_cap_moves_the_next_slot_to_the_next_working_day() -> None:
    lim = limits(daily_caps={"profile_visit": 2})
    ledger = SenderLedger()
    now = madrid(2025, 3, 7, 10, 0)  # Friday
    grants = [
        grant_slot(ledger, lim, request_key=f"k{i}", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0)
        for i in range(3)
    ]
    assert [g.at for g in grants] == [now, now, madrid(2025, 3, 10, 9, 0)]
    assert grants[2].day == "2025-03-10"


def test_the_101st_invitation_of_a_week_waits_for_next_week() -> None:
    lim = limits(daily_caps={"send_invitation": 100})  # the weekly cap is the binding one
    ledger = SenderLedger()
    now = madrid(2025, 3, 3, 9, 0)  # Monday
    for i in range(100):
        grant = grant_slot(
            ledger, lim, request_key=f"k{i}", action=ActionType.SEND_INVITATION, earliest=now, now=now, draw=0
        )
        assert grant.at == now
    extra = grant_slot(
        ledger, lim, request_key="k100", action=ActionType.SEND_INVITATION, earliest=now, now=now, draw=0
    )
    assert extra.at == madrid(2025, 3, 10, 9, 0)
    assert extra.week == "2025-W11"


def test_default_invitations_are_spread_twenty_a_day() -> None:
    lim = limits()
    ledger = SenderLedger()
    now = madrid(2025, 3, 3, 9, 0)
    days = [
        grant_slot(
            ledger, lim, request_key=f"k{i}", action=ActionType.SEND_INVITATION, earliest=now, now=now, draw=0
        ).day
        for i in range(101)
    ]
    assert [days.count(f"2025-03-0{d}") for d in range(3, 8)] == [20] * 5
    assert days[-1] == "2025-03-10"


def test_caps_are_per_action_type() -> None:
    lim = limits(daily_caps={"profile_visit": 1})
    ledger = SenderLedger()
    now = madrid(2025, 3, 5, 10, 0)
    grant_slot(ledger, lim, request_key="a", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0)
    message = grant_slot(ledger, lim, request_key="b", action=ActionType.SEND_MESSAGE, earliest=now, now=now, draw=0)
    assert message.at == now


def test_spacing_keeps_actions_apart_and_respects_the_window_end() -> None:
    lim = limits(min_spacing_seconds=60, max_spacing_seconds=60)
    ledger = SenderLedger()
    now = madrid(2025, 3, 5, 17, 58)
    ats = [
        grant_slot(
            ledger, lim, request_key=f"k{i}", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0.5
        ).at
        for i in range(3)
    ]
    assert ats == [now, now + timedelta(minutes=1), madrid(2025, 3, 6, 9, 0)]


def test_spacing_fills_a_gap_between_later_slots() -> None:
    lim = limits(min_spacing_seconds=60, max_spacing_seconds=60)
    ledger = SenderLedger(slots=[madrid(2025, 3, 5, 10, 0), madrid(2025, 3, 5, 10, 5)])
    at = plan_slot(ledger, lim, ActionType.PROFILE_VISIT, madrid(2025, 3, 5, 9, 59, 30), timedelta(seconds=60))
    assert at == madrid(2025, 3, 5, 10, 1)


def test_spacing_draw_is_between_min_and_max() -> None:
    lim = limits(min_spacing_seconds=30, max_spacing_seconds=90)
    assert lim.spacing(0) == timedelta(seconds=30)
    assert lim.spacing(0.5) == timedelta(seconds=60)
    assert lim.spacing(0.999) < timedelta(seconds=90)


def test_a_repeated_request_gets_the_same_slot_without_counting_twice() -> None:
    lim = limits(daily_caps={"profile_visit": 5})
    ledger = SenderLedger()
    now = madrid(2025, 3, 5, 10, 0)
    first = grant_slot(ledger, lim, request_key="same", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0)
    again = grant_slot(
        ledger,
        lim,
        request_key="same",
        action=ActionType.PROFILE_VISIT,
        earliest=now + timedelta(hours=1),
        now=now,
        draw=0,
    )
    assert again == first
    assert ledger.used_on("profile_visit", "2025-03-05") == 1


def test_a_released_slot_can_be_granted_again() -> None:
    lim = limits(daily_caps={"profile_visit": 1})
    ledger = SenderLedger()
    now = madrid(2025, 3, 5, 10, 0)
    grant = grant_slot(ledger, lim, request_key="a", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0)
    assert release_slot(ledger, grant)
    assert not release_slot(ledger, grant)
    again = grant_slot(ledger, lim, request_key="b", action=ActionType.PROFILE_VISIT, earliest=now, now=now, draw=0)
    assert again.at == now


def test_prune_keeps_this_week_and_forgets_the_past() -> None:
    lim = limits(max_spacing_seconds=60, min_spacing_seconds=60)
    ledger = SenderLedger(
        daily={"profile_visit|2025-03-01": 4, "profile_visit|2025-03-04": 2, "profile_visit|2025-03-05": 1},
        weekly={"send_invitation|2025-W09": 50, "send_invitation|2025-W10": 10},
        slots=[madrid(2025, 3, 5, 8, 0), madrid(2025, 3, 5, 9, 59, 30), madrid(2025, 3, 6, 9, 0)],
    )
    prune(ledger, lim, madrid(2025, 3, 5, 10, 0))
    assert ledger.daily == {"profile_visit|2025-03-04": 2, "profile_visit|2025-03-05": 1}
    assert ledger.weekly == {"send_invitation|2025-W10": 10}
    assert ledger.slots == [madrid(2025, 3, 5, 9, 59, 30), madrid(2025, 3, 6, 9, 0)]


def test_limits_from_an_account_row() -> None:
    lim = limits_from_account(
        timezone="Asia/Tokyo",
        working_hours={"start": "08:30", "end": "17:00"},
        working_days=[1, 2, 3, 4, 5, 6],
        daily_limits={"profile_visit": 80},
        weekly_invitation_limit=60,
        min_action_spacing_seconds=30,
        max_action_spacing_seconds=90,
    )
    assert lim.window.start == time(8, 30)
    assert lim.window.days == [1, 2, 3, 4, 5, 6]
    assert lim.daily_cap("profile_visit") == 80
    assert lim.daily_cap("send_invitation") == 10
    empty = limits_from_account(
        timezone=None,
        working_hours={},
        working_days=[],
        daily_limits={},
        weekly_invitation_limit=None,
        min_action_spacing_seconds=None,
        max_action_spacing_seconds=None,
    )
    assert empty.window == SendingWindow()
    assert empty.daily_cap("send_invitation") is None


def test_lifted_account_columns_make_an_unlimited_sender() -> None:
    from followthrough.processes.campaigns.sending_window import lifted_account_columns

    columns = lifted_account_columns()
    lifted = limits_from_account(
        timezone=columns["timezone"],
        working_hours=columns["working_hours"],
        working_days=columns["working_days"],
        daily_limits=columns["daily_limits"],
        weekly_invitation_limit=columns["weekly_invitation_limit"],
        min_action_spacing_seconds=columns["min_action_spacing_seconds"],
        max_action_spacing_seconds=columns["max_action_spacing_seconds"],
    )
    assert lifted.unlimited
