"""User-store activities: create and delete a user in one named store (USER_STORES).

Each call touches exactly one store, so the workflow can retry a store that is down without
touching the others, and undo exactly the stores that were written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.onboarding.rules import (
    CreateStoreUserInput,
    DeleteStoreUserInput,
    PlanStoresInput,
    StorePlan,
    StoreUserResult,
)

if TYPE_CHECKING:
    from followthrough.services import Services


class UserStoreActivities:
    def __init__(self, services: Services) -> None:
        # The stores' drivers (SQLAlchemy, MongoDB) load with the worker, not with the workflow.
        from followthrough.providers.user_stores import UserStores

        self._settings = services.settings
        self.stores = UserStores.from_settings(services.settings)

    @activity.defn(name="user_stores.plan")
    async def plan(self, input: PlanStoresInput) -> StorePlan:
        """The stores to write, in order: the requested ones (checked) or every configured one."""
        from followthrough.providers.user_stores import configured_stores

        with as_temporal_errors():
            known = list(configured_stores(self._settings))
            unknown = [name for name in input.requested if name not in known]
            if unknown:
                raise ValidationError(f"unknown user store(s) {', '.join(unknown)}; configured: {', '.join(known)}")
            return StorePlan(stores=list(dict.fromkeys(input.requested)) or known)

    @activity.defn(name="user_stores.create_user")
    async def create_user(self, input: CreateStoreUserInput) -> StoreUserResult:
        with as_temporal_errors():
            created = await self.stores.create_user(
                input.store,
                user_id=input.user_id,
                email=input.email,
                name=input.name,
                onboarding_id=input.onboarding_id,
            )
            return StoreUserResult(store=input.store, created=created)

    @activity.defn(name="user_stores.delete_user")
    async def delete_user(self, input: DeleteStoreUserInput) -> bool:
        with as_temporal_errors():
            return await self.stores.delete_user(input.store, user_id=input.user_id, onboarding_id=input.onboarding_id)
