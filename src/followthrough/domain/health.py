"""Inputs and results of the health check."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class HealthCheckInput(BaseModel):
    """Which dependencies to check; empty means every one this deployment uses."""

    dependencies: list[str] = Field(default_factory=list)


class CheckDependencyInput(BaseModel):
    name: str


class DependencyReport(BaseModel):
    name: str
    ok: bool
    detail: str | None = None
    latency_ms: float | None = None


class HealthReport(BaseModel):
    ok: bool
    dependencies: list[DependencyReport]
    checked_at: datetime
