"""Retry policies and timeouts the seeds use, in one place.

Side effects retry with 1 s initial interval, ×2 backoff, 60 s cap; permanent errors (the
type names in :data:`~followthrough.errors.NON_RETRYABLE_ERROR_TYPES`) are never retried.
Compensations retry until they succeed: a saga that cannot undo must keep trying, not give up.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from followthrough.errors import NON_RETRYABLE_ERROR_TYPES

DEFAULT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES,
)

#: Undo steps: unlimited attempts, nothing is non-retryable.
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)

#: A provider call: how long one attempt may take.
PROVIDER_CALL_TIMEOUT = timedelta(seconds=30)
#: A store write or read.
STORE_CALL_TIMEOUT = timedelta(seconds=15)
