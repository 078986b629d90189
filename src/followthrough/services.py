"""The process-wide dependencies that activities and routes receive: settings, the store and
the provider clients. Built once per process by :meth:`Services.open` and injected, so tests
build them the same way with other settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from followthrough.config import Settings
from followthrough.store import Database

HealthCheck = Callable[[], Awaitable[str | None]]


@dataclass
class Services:
    settings: Settings
    database: Database
    extra_health_checks: dict[str, HealthCheck] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        database = Database(settings.effective_database_url)
        return cls(settings=settings, database=database)

    def health_checks(self) -> dict[str, HealthCheck]:
        """Named checks, one per dependency this process uses (Temporal is checked apart)."""

        async def database() -> str:
            await self.database.ping()
            return self.database.dialect

        checks: dict[str, HealthCheck] = {"database": database}
        checks.update(self.extra_health_checks)
        return checks

    async def close(self) -> None:
        await self.database.close()
