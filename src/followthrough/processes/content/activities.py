"""Content activities: mirror the pipeline's state in the app's ``content_items`` and publish
approved content to the configured stores.

Publishing upserts by content id, so a retry (or a re-run of the workflow) never writes a
second copy. The store ``app`` is the app's own ``content_items`` table; any other name is a
user store (USER_STORES), where a ``content_items`` table is created on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.content.rules import (
    PlanPublishInput,
    PublishContentInput,
    PublishTargets,
    RecordContentInput,
)
from followthrough.providers.user_stores import APP_STORE, UserStores, configured_stores, db_errors
from followthrough.services import Services
from followthrough.store.models import ContentItem
from followthrough.store.types import UTCDateTime

_PUBLISHED = Table(
    "content_items",
    MetaData(),
    Column("id", String(64), primary_key=True),
    Column("title", String(300), nullable=True),
    Column("body", Text, nullable=False),
    Column("workflow_id", String(255), nullable=True),
    Column("published_at", UTCDateTime(), nullable=False),
)


class ContentActivities:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.stores = UserStores.from_settings(services.settings)

    @activity.defn(name="content.plan_publish")
    async def plan_publish(self, input: PlanPublishInput) -> PublishTargets:
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
                async with self._services.database.session() as session:
                    item = await session.get(ContentItem, status.content_id)
                    if item is None:
                        session.add(ContentItem(id=status.content_id, **values))
                    else:
                        for key, value in values.items():
                            setattr(item, key, value)

    @activity.defn(name="content.publish")
    async def publish(self, input: PublishContentInput) -> str:
        """Publish to one store; returns the store's name."""
        with as_temporal_errors():
            if input.store == APP_STORE:
                await self._publish_app(input)
            else:
                await self._publish_store(input)
            return input.store

    async def _publish_app(self, input: PublishContentInput) -> None:
        with db_errors(APP_STORE):
            async with self._services.database.session() as session:
                item = await session.get(ContentItem, input.content_id)
                if item is None:
                    item = ContentItem(id=input.content_id, brief="", review_mode="human")
                    session.add(item)
                item.title, item.body, item.status = input.title, input.body, "published"
                item.published_at, item.workflow_id = input.published_at, input.workflow_id
                published = list(item.published_to or [])
                if APP_STORE not in published:
                    item.published_to = [*published, APP_STORE]

    async def _publish_store(self, input: PublishContentInput) -> None:
        store = input.store
        with db_errors(store):
            engine = self.stores.engine(store)
            values = {
                "id": input.content_id,
                "title": input.title,
                "body": input.body,
                "workflow_id": input.workflow_id,
                "published_at": input.published_at,
            }
            async with engine.begin() as conn:
                await conn.run_sync(_PUBLISHED.metadata.create_all, checkfirst=True)
                exists = (
                    await conn.execute(select(_PUBLISHED.c.id).where(_PUBLISHED.c.id == input.content_id))
                ).first()
                if exists:
                    changes = {k: v for k, v in values.items() if k != "id"}
                    await conn.execute(update(_PUBLISHED).where(_PUBLISHED.c.id == input.content_id).values(**changes))
                else:
                    await conn.execute(_insert_ignore(self.stores.dialect(store), values))


def _insert_ignore(dialect: str, values: Mapping[str, Any]) -> Any:
    """An insert that is a no-op when a concurrent attempt inserted the same id first."""
    if dialect == "postgresql":
        return pg_insert(_PUBLISHED).values(**values).on_conflict_do_nothing(index_elements=["id"])
    if dialect in ("mysql", "mariadb"):
        return mysql_insert(_PUBLISHED).values(**values).prefix_with("IGNORE")
    return sqlite_insert(_PUBLISHED).values(**values).on_conflict_do_nothing(index_elements=["id"])
