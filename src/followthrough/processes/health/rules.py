"""Inputs and results of the health check."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from followthrough.bounds import MAX_ITEMS, Id


class HealthCheckInput(BaseModel):
    """Which dependencies to check; empty means every one this deployment uses."""

    dependencies: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)


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
