"""Retry policies and timeouts the seeds use, in one place.

Side effects retry with 1 s initial interval, ×2 backoff, 60 s cap; permanent errors (the
type names in :data:`~followthrough.errors.NON_RETRYABLE_ERROR_TYPES`, and any ApplicationError
raised non-retryable, see :func:`~followthrough.errors.classify`) are never retried.

Every preset bounds how long an activity may retry, so no workflow spins forever: past the
bound the activity fails with its last error, the workflow sees an ``ActivityError`` and either
handles it (a saga compensates) or fails with it, visible in its status. With the backoff
above, attempt *n* ≥ 7 waits the 60 s cap, so ``N`` attempts span about ``N - 6`` minutes plus
the attempts' own time:

* :data:`DEFAULT_RETRY` — a provider call (WhatsApp, Stripe, Cal.com, HubSpot…): 70 attempts,
  about an hour and five minutes, so an hour's outage of a provider is ridden out.
* :data:`STORE_RETRY` — a read or write of our own store: 30 attempts, about 25 minutes; long
  enough for a failover or a restart of the database, short enough that a store that stays
  down fails the workflow visibly instead of piling up work behind it.
* :data:`COMPENSATION_RETRY` — an undo step: 1,500 attempts, about a day. A saga that cannot
  undo must keep trying through a long outage, but not forever: after a day it fails and an
  operator sees it.

Workflows with a tighter need set their own bound on top (``schedule_to_close_timeout``, or a
policy with fewer ``maximum_attempts``: a deployment step, a notification's delivery, a poll).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio.common import RetryPolicy

from followthrough.errors import NON_RETRYABLE_ERROR_TYPES

#: Attempts of each preset (see the module docstring for the time they span).
PROVIDER_ATTEMPTS = 70
STORE_ATTEMPTS = 30
COMPENSATION_ATTEMPTS = 1500


def exponential_backoff(
    attempts: int, *, non_retryable: Sequence[str] | None = NON_RETRYABLE_ERROR_TYPES
) -> RetryPolicy:
    """The presets' one backoff (1 s, doubling, at most a minute apart), bounded by ``attempts``."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=attempts,
        non_retryable_error_types=non_retryable,
    )


DEFAULT_RETRY = exponential_backoff(PROVIDER_ATTEMPTS)
#: Store reads and writes: the same backoff, a shorter bound.
STORE_RETRY = exponential_backoff(STORE_ATTEMPTS)
#: Undo steps: about a day of attempts; no error type is listed as non-retryable (an error
#: raised non-retryable, such as bad data, still stops them).
COMPENSATION_RETRY = exponential_backoff(COMPENSATION_ATTEMPTS, non_retryable=None)

#: A provider call: how long one attempt may take.
PROVIDER_CALL_TIMEOUT = timedelta(seconds=30)
#: A store write or read.
STORE_CALL_TIMEOUT = timedelta(seconds=15)
