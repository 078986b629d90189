"""Content activities: mirror the pipeline's state in the app's ``content_items`` and publish
approved content to the configured stores.

Publishing upserts by content id, so a retry (or a re-run of the workflow) never writes a
second copy. The store ``app`` is the app's own ``content_items`` table; any other name is a
user store (USER_STORES), where a ``content_items`` table is created on first use.
"""

from __future__ import annotations

from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.content.rules import (
    PlanPublishInput,
    PublishContentInput,
    PublishTargets,
    RecordContentInput,
)
from followthrough.services import Services


class ContentActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.providers.user_stores import UserStores
        from followthrough.store.repositories.content import ContentItems

        self._services = services
        self._items = ContentItems(services.database)
        #: The user stores (external databases) content is published to.
        self.stores = UserStores.from_settings(services.settings)

    @activity.defn(name="content.plan_publish")
    async def plan_publish(self, input: PlanPublishInput) -> PublishTargets:
        from followthrough.providers.user_stores import APP_STORE, configured_stores

        with as_temporal_errors():
            configured = [s.strip() for s in self._services.settings.content_publish_stores.split(",") if s.strip()]
            wanted = list(dict.fromkeys(input.requested or configured))
            known = {APP_STORE, *configured_stores(self._services.settings)}
            unknown = [name for name in wanted if name not in known]
            if unknown:
                raise ValidationError(
                    f"unknown publish store(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
            return PublishTargets(stores=wanted)

    @activity.defn(name="content.record")
    async def record(self, input: RecordContentInput) -> None:
        """Upsert the content_items row to the workflow's current state."""
        from followthrough.providers.user_stores import APP_STORE, db_errors

        status = input.status
        values = {
            "brief": input.brief.model_dump_json(),
            "title": status.title,
            "body": status.body,
            "status": status.stage,
            "review_mode": input.review_mode,
            "round": status.round,
            "max_rounds": input.max_rounds,
            "score": status.score,
            "reviews": [r.model_dump(mode="json") for r in status.reviews],
            "published_to": status.published_to,
            "workflow_id": input.workflow_id,
        }
        with as_temporal_errors():
            with db_errors(APP_STORE):
                await self._items.put(status.content_id, **values)

    @activity.defn(name="content.publish")
    async def publish(self, input: PublishContentInput) -> str:
        """Publish to one store; returns the store's name."""
        from followthrough.providers.user_stores import APP_STORE

        with as_temporal_errors():
            if input.store == APP_STORE:
                await self._publish_app(input)
            else:
                await self._publish_store(input)
            return input.store

    async def _publish_app(self, input: PublishContentInput) -> None:
        from followthrough.providers.user_stores import APP_STORE, db_errors

        with db_errors(APP_STORE):
            await self._items.publish(
                input.content_id,
                store=APP_STORE,
                title=input.title,
                body=input.body,
                published_at=input.published_at,
                workflow_id=input.workflow_id,
            )

    async def _publish_store(self, input: PublishContentInput) -> None:
        from followthrough.providers.user_stores import db_errors

        with db_errors(input.store):
            await self.stores.publish_content(
                input.store,
                content_id=input.content_id,
                title=input.title,
                body=input.body,
                workflow_id=input.workflow_id,
                published_at=input.published_at,
            )
