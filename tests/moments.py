"""Instants on the time-skipping server, checked against the moment a workflow planned them for.

The time-skipping server jumps its clock only while nothing runs. The activities that follow a
timer (a read-back, then the message) therefore start a moment of real time after the timer's
instant: milliseconds on an idle box, a second or more on a busy one. Comparing both sides
truncated to the second fails whenever that moment crosses a second boundary, so an instant is
compared at full precision instead: never before its planned moment, and at most ``SLACK`` of
real time after it. Every mistake of a workflow's schedule (the wrong offset, the wrong anchor,
a message sent early) is minutes or hours away, far outside the slack.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Real time the activities after a timer may take to start, on a busy box.
SLACK = timedelta(seconds=10)
#: How far an instant the workflow computed may stand from the server's: ``workflow.now()`` is
#: the task's time in nanoseconds divided into a float, which can round a microsecond off.
EXACT = timedelta(milliseconds=1)


class Moment:
    """Equal to any instant from ``at`` (less ``EXACT``) to ``at + SLACK``."""

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Moment):
            return self.at == other.at
        return isinstance(other, datetime) and self.at - EXACT <= other <= self.at + SLACK

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"Moment({self.at.isoformat()} to +{SLACK.total_seconds():g} s)"


def moments(*planned: datetime) -> list[Moment]:
    """The planned instants as moments, for comparing a list of recorded instants at once."""
    return [Moment(at) for at in planned]
