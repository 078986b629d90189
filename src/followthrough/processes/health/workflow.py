"""HealthCheckWorkflow: one activity per dependency, a per-dependency report.

The first workflow that goes through every layer: API or CLI → client → worker → activities
→ store and providers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.health.activities import HealthActivities
    from followthrough.processes.health.rules import (
        CheckDependencyInput,
        DependencyReport,
        HealthCheckInput,
        HealthReport,
    )

# A health check answers now or reports the fault; it does not retry for minutes.
_TIMEOUT = timedelta(seconds=10)
_RETRY = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=200))


@workflow.defn
class HealthCheckWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "health"

    @workflow.run
    async def run(self, input: HealthCheckInput) -> HealthReport:
        names = input.dependencies or await workflow.execute_activity_method(
            HealthActivities.list_targets,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        reports = await asyncio.gather(*(self._check(name) for name in names))
        return HealthReport(ok=all(r.ok for r in reports), dependencies=list(reports), checked_at=workflow.now())

    async def _check(self, name: str) -> DependencyReport:
        try:
            return await workflow.execute_activity_method(
                HealthActivities.check,
                CheckDependencyInput(name=name),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            return DependencyReport(name=name, ok=False, detail=str(err.cause or err))
