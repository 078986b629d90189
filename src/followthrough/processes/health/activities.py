"""Health-check activities: one check per dependency, each reported, none raising."""

from __future__ import annotations

import time

from temporalio import activity
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from followthrough.processes.health.rules import CheckDependencyInput, DependencyReport
from followthrough.services import Services


class HealthActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="health.list_targets")
    async def list_targets(self) -> list[str]:
        return ["temporal", *self._services.health_checks()]

    @activity.defn(name="health.check")
    async def check(self, input: CheckDependencyInput) -> DependencyReport:
        started = time.perf_counter()
        try:
            if input.name == "temporal":
                info = await activity.client().workflow_service.get_system_info(GetSystemInfoRequest())
                detail: str | None = f"server {info.server_version or 'unknown'}"
            else:
                check = self._services.health_checks().get(input.name)
                if check is None:
                    return DependencyReport(name=input.name, ok=False, detail="unknown dependency")
                detail = await check()
        except Exception as exc:  # a failed check is a report, not an activity failure
            return DependencyReport(
                name=input.name,
                ok=False,
                detail=f"{type(exc).__name__}: {exc}"[:500],
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return DependencyReport(
            name=input.name,
            ok=True,
            detail=detail,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
