"""The process-wide dependencies that activities and routes receive: settings, the store and
the provider clients. Built once per process by :meth:`Services.open` and injected, so tests
build them the same way with other settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from followthrough.config import Settings

if TYPE_CHECKING:
    # Only for the types: importing this module stays light (no SQLAlchemy, no httpx), so the
    # activity modules a workflow imports for their signatures do not load the store or the
    # providers; they are imported where the services are built.
    from followthrough.providers.factory import Providers
    from followthrough.providers.user_stores import UserStores
    from followthrough.store import Database

HealthCheck = Callable[[], Awaitable[str | None]]


@dataclass
class Services:
    settings: Settings
    database: Database
    extra_health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    # --- providers (issue 3, providers engineer) ---------------------------------------------
    #: The external APIs, ``services.providers.<capability>``: built from the settings unless
    #: given (tests pass their own: ``Services.open(settings, providers=...)`` or assign it).
    providers: Providers = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.providers is None:
            from followthrough.providers.factory import build_providers
            from followthrough.store.outbox import Outbox

            self.providers = build_providers(self.settings, Outbox(self.database))

    # --- end providers ---------------------------------------------------------------------

    # --- close hooks (webhooks engineer) -----------------------------------------------------
    #: What components built on these services opened and must release with them (e.g. the
    #: HTTP client of NotificationActivities); run by :meth:`close`, last registered first.
    _close_hooks: list[Callable[[], Awaitable[object]]] = field(default_factory=list, repr=False)

    def on_close(self, hook: Callable[[], Awaitable[object]]) -> None:
        """Have :meth:`close` await ``hook`` (before the providers and the store close)."""
        self._close_hooks.append(hook)

    # --- end close hooks ---------------------------------------------------------------------

    _user_stores: UserStores | None = field(default=None, repr=False)

    def user_stores(self) -> UserStores:
        """The user stores (``USER_STORES``), opened on first use and closed with these services."""
        if self._user_stores is None:
            from followthrough.providers.user_stores import UserStores  # it imports the settings' parsers

            self._user_stores = UserStores.from_settings(self.settings)
            self.on_close(self._user_stores.close)
        return self._user_stores

    @classmethod
    async def open(cls, settings: Settings, *, providers: Providers | None = None) -> Services:
        from followthrough.store import Database

        database = Database(settings.effective_database_url)
        return cls(settings=settings, database=database, providers=providers)  # type: ignore[arg-type]

    def health_checks(self) -> dict[str, HealthCheck]:
        """Named checks, one per dependency this process uses (Temporal is checked apart)."""

        async def database() -> str:
            await self.database.ping()
            return self.database.dialect

        checks: dict[str, HealthCheck] = {"database": database}
        checks.update(self.providers.health_checks())  # real providers only (providers engineer)
        checks.update(self.extra_health_checks)
        return checks

    async def close(self) -> None:
        while self._close_hooks:  # close hooks (webhooks engineer)
            await self._close_hooks.pop()()
        await self.providers.aclose()  # providers engineer
        await self.database.close()
