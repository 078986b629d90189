"""Sender limits and sending windows: pure rules for when a sender account may act next.

A LinkedIn account that acts like a robot gets restricted, so every action of a sender goes
out only

* inside its **sending window**, in the account's own time zone (default 09:00–18:00,
  Monday–Friday);
* under its **caps** per action type: per local day (defaults: 150 profile visits, 100
  messages, 100 post likes, 50 withdrawals) and, for invitations, per ISO week (default 100,
  spread over the working days: 20 a day on a five-day week);
* with **human-like spacing**: at least ``min_spacing_seconds`` and at most
  ``max_spacing_seconds`` between two actions of the sender, the exact gap drawn from a
  uniform number the caller gives (``workflow.random()`` in the sender workflow, so replay
  draws the same gaps).

:func:`grant_slot` is the whole rule: given the ledger of what is already granted, it finds the
earliest instant at or after the wish that satisfies all three, books it and returns it. It
never refuses: a full day moves the slot to the next day's window, a full week to the next
week's. :class:`~followthrough.processes.campaigns.sender.SenderWorkflow` is the only caller, one per
sender account, which is what makes the ledger a single source of truth (see its docstring).
"""

from __future__ import annotations

import bisect
import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from followthrough.bounds import INT32_MAX, MAX_DURATION, Id
from followthrough.processes.campaigns.graph import ActionType

#: Daily caps when the account sets none. Invitations are derived from the weekly cap.
DEFAULT_DAILY_CAPS: dict[str, int | None] = {
    ActionType.PROFILE_VISIT.value: 150,
    ActionType.SEND_MESSAGE.value: 100,
    ActionType.LIKE_POST.value: 100,
    ActionType.WITHDRAW_INVITATION.value: 50,
    ActionType.SEND_WHATSAPP.value: None,
}
DEFAULT_WEEKLY_INVITATIONS = 100
#: Longest spacing between two actions an account may ask for.
MAX_SPACING = MAX_DURATION.total_seconds()
#: Request keys are remembered this long, so a retried acquire gets the same slot back.
REMEMBER_REQUESTS = timedelta(hours=6)
_MAX_STEPS = 100_000


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class SendingWindow(BaseModel):
    """When the account acts: ``start``–``end`` local time on ``days`` (ISO weekdays, 1 = Monday).

    ``end`` of 00:00 means midnight at the end of the day, so 00:00–00:00 every day is "always".
    """

    timezone: str = Field(default="UTC", max_length=64)
    start: time = time(9, 0)
    end: time = time(18, 0)
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], max_length=7)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        days = sorted(set(value))
        if not days or any(d < 1 or d > 7 for d in days):
            raise ValueError("days must be a non-empty list of ISO weekdays 1 (Monday) to 7 (Sunday)")
        return days

    @model_validator(mode="after")
    def _start_before_end(self) -> SendingWindow:
        if self.end != time(0) and self.end <= self.start:
            raise ValueError("the window must end after it starts (use end 00:00 for midnight)")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @property
    def always_open(self) -> bool:
        return len(self.days) == 7 and self.start == time(0) and self.end == time(0)

    def contains(self, instant: datetime) -> bool:
        local = instant.astimezone(self.tz)
        if local.isoweekday() not in self.days:
            return False
        t = local.time()
        return self.start <= t and (self.end == time(0) or t < self.end)

    def opening(self, day: date) -> datetime:
        """The instant (UTC) the window opens on local ``day``."""
        return datetime.combine(day, self.start, tzinfo=self.tz).astimezone(UTC)

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` if the window is open then, else the next instant it opens."""
        if self.contains(instant):
            return instant
        local = instant.astimezone(self.tz)
        day = local.date()
        if local.isoweekday() in self.days and local.time() < self.start:
            return self.opening(day)
        for _ in range(8):
            day += timedelta(days=1)
            if day.isoweekday() in self.days:
                return self.opening(day)
        raise AssertionError("a window with days always opens within a week")

    def add_sending_days(self, instant: datetime, count: int) -> datetime:
        """The same local time ``count`` sending days (days in ``days``) after ``instant``."""
        local = instant.astimezone(self.tz)
        day = local.date()
        left = count
        while left > 0:
            day += timedelta(days=1)
            if day.isoweekday() in self.days:
                left -= 1
        return datetime.combine(day, local.time(), tzinfo=self.tz).astimezone(UTC)


class SenderLimits(BaseModel):
    """One sender account's window, caps and spacing (read from its ``sender_accounts`` row)."""

    window: SendingWindow = Field(default_factory=SendingWindow)
    #: Per action type per local day; a missing type takes :data:`DEFAULT_DAILY_CAPS`, None = no cap.
    daily_caps: dict[str, Annotated[int, Field(le=INT32_MAX)] | None] = Field(default_factory=dict, max_length=20)
    #: Invitations per ISO week (local time), None = no weekly cap.
    weekly_invitations: int | None = Field(default=DEFAULT_WEEKLY_INVITATIONS, le=INT32_MAX)
    min_spacing_seconds: float = Field(default=60.0, ge=0, le=MAX_SPACING, allow_inf_nan=False)
    max_spacing_seconds: float = Field(default=300.0, ge=0, le=MAX_SPACING, allow_inf_nan=False)

    @field_validator("daily_caps")
    @classmethod
    def _caps(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        known = {a.value for a in ActionType}
        for action, cap in value.items():
            if action not in known:
                raise ValueError(f"unknown action type {action!r}")
            if cap is not None and cap < 1:
                raise ValueError(f"cap of {action} must be at least 1 (or null for none)")
        return value

    @field_validator("weekly_invitations")
    @classmethod
    def _weekly(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("weekly_invitations must be at least 1 (or null for none)")
        return value

    @model_validator(mode="after")
    def _spacing_range(self) -> SenderLimits:
        if self.max_spacing_seconds < self.min_spacing_seconds:
            raise ValueError("max_spacing_seconds must not be below min_spacing_seconds")
        return self

    @classmethod
    def lifted(cls) -> SenderLimits:
        """No window, no caps, no spacing (benchmarks, sandboxes)."""
        return cls(
            window=SendingWindow(start=time(0), end=time(0), days=[1, 2, 3, 4, 5, 6, 7]),
            daily_caps={a.value: None for a in ActionType},
            weekly_invitations=None,
            min_spacing_seconds=0,
            max_spacing_seconds=0,
        )

    @property
    def unlimited(self) -> bool:
        return (
            self.window.always_open
            and self.weekly_invitations is None
            and all(self.daily_cap(a) is None for a in ActionType)
            and self.max_spacing_seconds == 0
        )

    def daily_cap(self, action: str) -> int | None:
        if action in self.daily_caps:
            return self.daily_caps[action]
        if action == ActionType.SEND_INVITATION:
            if self.weekly_invitations is None:
                return None
            return math.ceil(self.weekly_invitations / len(self.window.days))
        return DEFAULT_DAILY_CAPS.get(action)

    def weekly_cap(self, action: str) -> int | None:
        return self.weekly_invitations if action == ActionType.SEND_INVITATION else None

    def spacing(self, draw: float) -> timedelta:
        """The gap for a uniform ``draw`` in [0, 1)."""
        span = self.max_spacing_seconds - self.min_spacing_seconds
        return timedelta(seconds=self.min_spacing_seconds + span * min(max(draw, 0.0), 1.0))


def limits_from_account(
    *,
    timezone: str | None,
    working_hours: dict[str, Any] | None,
    working_days: list[Any] | None,
    daily_limits: dict[str, Any] | None,
    weekly_invitation_limit: int | None,
    min_action_spacing_seconds: float | None,
    max_action_spacing_seconds: float | None,
) -> SenderLimits:
    """The limits of a ``sender_accounts`` row; empty columns take the defaults.

    A ``weekly_invitation_limit`` of 0 (or null) means no weekly cap, and a daily limit of null
    means no cap for that action: that is how an account's limits are lifted.
    """
    hours = working_hours or {}
    window = SendingWindow.model_validate(
        {
            "timezone": timezone or "UTC",
            "start": hours.get("start") or time(9, 0),
            "end": hours.get("end") or time(18, 0),
            "days": [int(d) for d in working_days] if working_days else [1, 2, 3, 4, 5],
        }
    )
    return SenderLimits(
        window=window,
        daily_caps={str(k): (None if v is None else int(v)) for k, v in (daily_limits or {}).items()},
        weekly_invitations=weekly_invitation_limit or None,
        min_spacing_seconds=60.0 if min_action_spacing_seconds is None else min_action_spacing_seconds,
        max_spacing_seconds=300.0 if max_action_spacing_seconds is None else max_action_spacing_seconds,
    )


def lifted_account_columns() -> dict[str, Any]:
    """``sender_accounts`` column values that lift every limit (benchmarks, sandboxes): the
    account's actions then skip the coordinator entirely."""
    return {
        "timezone": "UTC",
        "working_hours": {"start": "00:00", "end": "00:00"},
        "working_days": [1, 2, 3, 4, 5, 6, 7],
        "daily_limits": {a.value: None for a in ActionType},
        "weekly_invitation_limit": 0,
        "min_action_spacing_seconds": 0,
        "max_action_spacing_seconds": 0,
    }


# --- the ledger and the grant rule -------------------------------------------------------------


class SlotGrant(BaseModel):
    """Permission to do ``action`` at ``at`` (UTC); counted in local ``day`` and ISO ``week``."""

    request_key: str
    action: ActionType
    at: datetime
    day: str
    week: str


class SenderLedger(BaseModel):
    """What a sender has been granted: counters per (action, local day) and (action, ISO week),
    the instants of recent and future slots (for spacing), and recent request keys (so a
    retried request gets its slot back). Pruned on every grant, so it stays bounded by the
    slots outstanding, not by the sender's whole past."""

    daily: dict[str, int] = Field(default_factory=dict)
    weekly: dict[str, int] = Field(default_factory=dict)
    slots: list[datetime] = Field(default_factory=list)
    recent: dict[str, SlotGrant] = Field(default_factory=dict)
    #: When each key in ``recent`` was granted (pruning is by this, not by the slot instant).
    recent_at: dict[str, datetime] = Field(default_factory=dict)
    granted_total: int = 0
    released_total: int = 0

    def used_on(self, action: str, day: str) -> int:
        return self.daily.get(f"{action}|{day}", 0)

    def used_in(self, action: str, week: str) -> int:
        return self.weekly.get(f"{action}|{week}", 0)


def _week_of(local_day: date) -> str:
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


def _next_local_midnight(window: SendingWindow, instant: datetime) -> datetime:
    day = instant.astimezone(window.tz).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=window.tz).astimezone(UTC)


def _next_local_week(window: SendingWindow, instant: datetime) -> datetime:
    day = instant.astimezone(window.tz).date()
    monday = day + timedelta(days=7 - day.weekday())
    return datetime.combine(monday, time(0), tzinfo=window.tz).astimezone(UTC)


def plan_slot(
    ledger: SenderLedger, limits: SenderLimits, action: ActionType, earliest: datetime, gap: timedelta
) -> datetime:
    """The first instant at or after ``earliest`` that is in the window, under the caps and at
    least ``gap`` away from every slot already granted. Pure: the ledger is not changed."""
    window = limits.window
    daily_cap, weekly_cap = limits.daily_cap(action), limits.weekly_cap(action)
    candidate = earliest
    for _ in range(_MAX_STEPS):
        candidate = window.next_open(candidate)
        local_day = candidate.astimezone(window.tz).date()
        if daily_cap is not None and ledger.used_on(action, local_day.isoformat()) >= daily_cap:
            candidate = _next_local_midnight(window, candidate)
            continue
        if weekly_cap is not None and ledger.used_in(action, _week_of(local_day)) >= weekly_cap:
            candidate = _next_local_week(window, candidate)
            continue
        if gap > timedelta(0) and ledger.slots:
            index = bisect.bisect_right(ledger.slots, candidate - gap)
            if index < len(ledger.slots) and ledger.slots[index] < candidate + gap:
                # Too close to a slot already granted: try right after it.
                candidate = ledger.slots[index] + gap
                continue
        return candidate
    raise AssertionError("no slot found; the limits cannot be met")  # pragma: no cover - caps >= 1


def grant_slot(
    ledger: SenderLedger,
    limits: SenderLimits,
    *,
    request_key: str,
    action: ActionType,
    earliest: datetime,
    now: datetime,
    draw: float,
) -> SlotGrant:
    """Book the next allowed slot for ``action`` and return it (the same one for a known key)."""
    known = ledger.recent.get(request_key)
    if known is not None:
        return known
    prune(ledger, limits, now)
    at = plan_slot(ledger, limits, action, max(earliest, now), limits.spacing(draw))
    local_day = at.astimezone(limits.window.tz).date()
    grant = SlotGrant(
        request_key=request_key, action=action, at=at, day=local_day.isoformat(), week=_week_of(local_day)
    )
    ledger.daily[f"{action}|{grant.day}"] = ledger.used_on(action, grant.day) + 1
    ledger.weekly[f"{action}|{grant.week}"] = ledger.used_in(action, grant.week) + 1
    bisect.insort(ledger.slots, at)
    ledger.recent[request_key] = grant
    ledger.recent_at[request_key] = now
    ledger.granted_total += 1
    return grant


def release_slot(ledger: SenderLedger, grant: SlotGrant) -> bool:
    """Give back a slot that was not used (the lead paused or stopped before acting)."""
    day_key, week_key = f"{grant.action}|{grant.day}", f"{grant.action}|{grant.week}"
    if ledger.recent.pop(grant.request_key, None) is None and grant.at not in ledger.slots:
        return False
    ledger.recent_at.pop(grant.request_key, None)
    if ledger.daily.get(day_key, 0) > 0:
        ledger.daily[day_key] -= 1
    if ledger.weekly.get(week_key, 0) > 0:
        ledger.weekly[week_key] -= 1
    index = bisect.bisect_left(ledger.slots, grant.at)
    if index < len(ledger.slots) and ledger.slots[index] == grant.at:
        del ledger.slots[index]
    ledger.released_total += 1
    return True


def prune(ledger: SenderLedger, limits: SenderLimits, now: datetime) -> None:
    """Forget what can no longer matter: days before yesterday, weeks before this one, slots
    further back than the widest gap, request keys older than :data:`REMEMBER_REQUESTS`."""
    today = now.astimezone(limits.window.tz).date()
    oldest_day = (today - timedelta(days=1)).isoformat()
    this_week = _week_of(today)
    ledger.daily = {k: v for k, v in ledger.daily.items() if k.rsplit("|", 1)[1] >= oldest_day and v > 0}
    ledger.weekly = {k: v for k, v in ledger.weekly.items() if k.rsplit("|", 1)[1] >= this_week and v > 0}
    horizon = now - timedelta(seconds=limits.max_spacing_seconds)
    del ledger.slots[: bisect.bisect_left(ledger.slots, horizon)]
    forget = now - REMEMBER_REQUESTS
    for key in [k for k, at in ledger.recent_at.items() if at < forget]:
        ledger.recent.pop(key, None)
        ledger.recent_at.pop(key, None)


# --- the sender workflow's contract ------------------------------------------------------------


def sender_workflow_id(account_id: str) -> str:
    return f"sender-{account_id}"


class SenderInput(BaseModel):
    """Start (or continue) a sender's coordinator: the ledger is all a new run carries."""

    account_id: Id
    ledger: SenderLedger = Field(default_factory=SenderLedger)
    limits: SenderLimits | None = None
    #: Continue as new after this many grants (and whenever Temporal suggests it).
    grants_per_run: int = Field(default=500, ge=1, le=10_000)


#: Most slot requests one ``acquire_many`` update carries (each is at most ~500 bytes, so a
#: batch stays far below Temporal's payload limits and a run's history stays small).
MAX_SLOT_BATCH = 100


class SlotRequest(BaseModel):
    """A slot for one action of one lead; ``request_key`` names the request (the lead workflow's
    id, its node and its request count), so a retried request gets the same slot back."""

    request_key: str = Field(min_length=1, max_length=400)
    action: ActionType
    #: Not before this instant (the lead's own clock, UTC); None = as soon as allowed.
    not_before: datetime | None = None


class AcquireSlotsRequest(BaseModel):
    """The ``acquire_many`` update: slots for every request a worker gathered for one sender."""

    requests: list[SlotRequest] = Field(min_length=1, max_length=MAX_SLOT_BATCH)
    #: The account's limits as read from the store just now (the newest one wins).
    limits: SenderLimits


class SlotGrants(BaseModel):
    """One grant per request, in the order of the requests."""

    grants: list[SlotGrant]


class ReleaseSlotSignal(BaseModel):
    grant: SlotGrant


class SenderStatus(BaseModel):
    account_id: str
    granted_total: int
    released_total: int
    outstanding_slots: int
    today: dict[str, int]
    this_week_invitations: int
    limits: SenderLimits | None
