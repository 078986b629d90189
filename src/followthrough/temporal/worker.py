"""The worker: the workflows and activities it is given, with the configured limits and
interceptors (the product's full list comes from ``followthrough/catalog.py``'s
``build_worker``).

Any number of ``followthrough worker`` processes on any number of machines poll the same task
queue; Temporal spreads the work between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from followthrough.errors import classify
from followthrough.metrics import worker_interceptors
from followthrough.services import Services


class _ClassifiedActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as exc:
            converted = classify(exc)
            if converted is None:
                raise
            raise converted from exc


class ActivityErrors(Interceptor):
    """Every activity's error classified once (:func:`followthrough.errors.classify`): ours by
    their class, bad data (overflow, DataError, decode errors…) as non-retryable, so an activity
    never retries what cannot succeed, whether or not its code wraps ``as_temporal_errors``."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ClassifiedActivity(next)


def build_worker(
    client: Client,
    services: Services,
    *,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    task_queue: str | None = None,
    **overrides: Any,
) -> Worker:
    """A worker of ``workflows`` and ``activities`` for ``task_queue`` (default
    ``TEMPORAL_TASK_QUEUE``)."""
    settings = services.settings
    options: dict[str, Any] = {
        # Completions per workflow type and outcome, and durations, for GET /metrics.
        "interceptors": [*worker_interceptors(), ActivityErrors()],
        "max_concurrent_activities": settings.temporal_max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.temporal_max_concurrent_workflows,
        "max_activities_per_second": settings.temporal_max_activities_per_second,
    }
    options.update(overrides)
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(workflows),
        activities=list(activities),
        **options,
    )
