"""Content items of the AI content pipeline: generated drafts, review rounds, publication."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from followthrough.store.models import ContentItem
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow


class ContentItems(Repository):
    async def create(
        self,
        *,
        brief: str,
        review_mode: str = "human",
        max_rounds: int = 3,
        content_id: str | None = None,
        workflow_id: str | None = None,
    ) -> ContentItem:
        """Create the item; with ``content_id`` given, a retried call returns the first row."""
        if content_id is not None and (existing := await self.get(content_id)) is not None:
            return existing
        async with self.database.session() as session:
            item = ContentItem(
                **({"id": content_id} if content_id else {}),
                brief=brief,
                review_mode=review_mode,
                max_rounds=max_rounds,
                workflow_id=workflow_id,
            )
            session.add(item)
        return item

    async def get(self, content_id: str) -> ContentItem | None:
        return await self._get(ContentItem, content_id)

    async def update(self, content_id: str, **values: Any) -> ContentItem:
        return await self._update(ContentItem, content_id, values)

    async def put(self, content_id: str, **values: Any) -> ContentItem:
        """Create the item with these columns, or set them on the one there (a pipeline's
        mirror of its state: harmless to repeat)."""
        async with self.database.session() as session:
            item = await session.get(ContentItem, content_id)
            if item is None:
                item = ContentItem(id=content_id, **values)
                session.add(item)
            else:
                for key, value in values.items():
                    setattr(item, key, value)
        return item

    async def publish(
        self,
        content_id: str,
        *,
        store: str,
        title: str | None,
        body: str,
        published_at: datetime,
        workflow_id: str | None,
    ) -> ContentItem:
        """The item ``published`` with this text, ``store`` added to ``published_to`` once
        (an item the store has not seen yet is created: brief empty, human review)."""
        async with self.database.session() as session:
            item = await session.get(ContentItem, content_id)
            if item is None:
                item = ContentItem(id=content_id, brief="", review_mode="human")
                session.add(item)
            item.title, item.body, item.status = title, body, "published"
            item.published_at, item.workflow_id = published_at, workflow_id
            published = list(item.published_to or [])
            if store not in published:
                item.published_to = [*published, store]
        return item

    async def save_draft(self, content_id: str, *, round: int, title: str | None, body: str) -> ContentItem:
        """The generated text of a round, now waiting for review."""
        return await self._update(
            ContentItem, content_id, {"round": round, "title": title, "body": body, "status": "pending_review"}
        )

    async def add_review(
        self,
        content_id: str,
        *,
        approved: bool,
        notes: str | None = None,
        reviewer: str | None = None,
        score: float | None = None,
        at: datetime | None = None,
    ) -> ContentItem:
        """Record the decision on the current round (appended to ``reviews``, once per round)."""
        async with self.database.session() as session:
            item = await self._require(session, ContentItem, content_id, lock=True)
            reviews = [r for r in item.reviews if r.get("round") != item.round]
            reviews.append(
                {
                    "round": item.round,
                    "approved": approved,
                    "notes": notes,
                    "reviewer": reviewer,
                    "score": score,
                    "at": (at or utcnow()).isoformat(),
                }
            )
            item.reviews = reviews
            item.score = score if score is not None else item.score
            item.status = "approved" if approved else "rejected"
        return item

    async def mark_published(self, content_id: str, stores: list[str]) -> ContentItem:
        return await self._update(
            ContentItem, content_id, {"status": "published", "published_to": stores, "published_at": utcnow()}
        )
