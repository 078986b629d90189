"""The bounds every input field takes: one definition per kind of bound.

Nothing that passes validation may make a workflow spin or fail its task forever, so every
number, duration, instant, string and list a client can send has a ceiling a business could
need and the store and Temporal can hold:

==================  =======================================================================
kind                bound
==================  =======================================================================
money               ``Amount``: 1 … :data:`INT64_MAX` (the store's ``BigInteger``); the
                    routes also apply ``FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT``
counters            ``Count``: 0 … :data:`INT32_MAX` (the store's ``Integer``)
durations           ``Seconds``/``Minutes``/``Hours``/``Days``: finite, > 0, ≤ 366 days
instants            ``Instant``: aware, :data:`EARLIEST` ≤ t < :data:`LATEST`
ids                 ``Id``: 1 … 200 characters
names               ``Name``: ≤ 200 characters
free text           ``Text``: ≤ 4,096 characters (WhatsApp's body is 4,096)
lists               ``max_length`` on each list field (:data:`MAX_ITEMS` unless it says)
==================  =======================================================================

Instants carry only an absolute bound here, because these models are decoded again inside
workflows (the pydantic converter validates a workflow's input, a signal's and an update's
on every replay): a check against the wall clock there would read non-deterministic time and
would refuse, on a replay years later, an input that was accepted. The "within
:data:`HORIZON` of now" rule is checked once, at the API, by :class:`WithinHorizon`, a mixin
for the routes' request models only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StringConstraints, model_validator

#: The store's ``Integer`` and ``BigInteger`` columns (PostgreSQL, and what SQLite accepts).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: Longest duration an input may ask for, unless its field says otherwise.
MAX_DURATION = timedelta(days=366)
#: How far from now (either way) an instant sent to the API may lie.
HORIZON = timedelta(days=3653)
#: The absolute range of every instant in a shared model (deterministic: no clock read).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

#: Most items in a list field that does not say otherwise.
MAX_ITEMS = 100
#: Most stores (user stores, publish targets) one input names.
MAX_STORES = 20
#: Longest id, name and free text.
MAX_ID = 200
MAX_NAME = 200
MAX_TEXT = 4096
#: Longest URL.
MAX_URL = 2048

Amount = Annotated[int, Field(gt=0, le=INT64_MAX, description="integer minor units")]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]

Seconds = Annotated[float, Field(gt=0, le=MAX_DURATION.total_seconds(), allow_inf_nan=False)]
Minutes = Annotated[float, Field(gt=0, le=MAX_DURATION.total_seconds() / 60, allow_inf_nan=False)]
Hours = Annotated[float, Field(gt=0, le=MAX_DURATION.total_seconds() / 3600, allow_inf_nan=False)]
Days = Annotated[float, Field(gt=0, le=MAX_DURATION.days, allow_inf_nan=False)]
#: Whole seconds, 0 allowed (a delay that may be none).
DelaySeconds = Annotated[int, Field(ge=0, le=int(MAX_DURATION.total_seconds()))]

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Url = Annotated[str, StringConstraints(max_length=MAX_URL)]


@lru_cache(maxsize=1024)
def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a zone of the IANA database (``Europe/Madrid``, ``UTC``; not
    ``Mars/Olympus``). One file read per new name rather than listing the whole database
    (``zoneinfo.available_timezones()`` takes a quarter of a second); allowed in the workflow
    sandbox, where a workflow's input is validated again."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be from {EARLIEST.date().isoformat()} and before {LATEST.date().isoformat()}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]


def _instants(value: Any, path: str) -> list[tuple[str, datetime]]:
    if isinstance(value, datetime):
        return [(path, value)]
    if isinstance(value, BaseModel):
        return [
            found
            for name in type(value).model_fields
            for found in _instants(getattr(value, name), f"{path}.{name}" if path else name)
        ]
    if isinstance(value, list | tuple):
        return [found for i, item in enumerate(value) for found in _instants(item, f"{path}[{i}]")]
    return []


def horizon_problems(model: BaseModel, now: datetime) -> list[str]:
    """The instants in ``model`` (at any depth) more than :data:`HORIZON` away from ``now``."""
    years = round(HORIZON.days / 365.25)
    return [
        f"{path} must be within {years} years of now"
        for path, at in _instants(model, "")
        if at.tzinfo is not None and abs(at - now) > HORIZON
    ]


class WithinHorizon(BaseModel):
    """Mixin for a route's request model: every instant within :data:`HORIZON` of now.

    Reads the wall clock, so never a base of a model a workflow decodes.
    """

    @model_validator(mode="after")
    def _within_horizon(self) -> Any:
        problems = horizon_problems(self, datetime.now(UTC))
        if problems:
            raise ValueError("; ".join(problems))
        return self
