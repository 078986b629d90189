"""Bot deployment records (the deployment workflow's saga creates and deletes them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from followthrough.store.models import BotDeployment
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow


class BotDeployments(Repository):
    async def create(
        self,
        *,
        bot_name: str,
        bot_type: str,
        owner: str,
        config: dict[str, Any] | None = None,
        deployment_id: str | None = None,
        workflow_id: str | None = None,
        **fields: Any,
    ) -> BotDeployment:
        """Create the record (``fields``: other columns, e.g. ``status``, ``step``); with
        ``deployment_id`` given, a retried call returns the first row."""
        if deployment_id is not None and (existing := await self.get(deployment_id)) is not None:
            return existing
        async with self.database.session() as session:
            deployment = BotDeployment(
                **({"id": deployment_id} if deployment_id else {}),
                bot_name=bot_name,
                bot_type=bot_type,
                owner=owner,
                config=config or {},
                workflow_id=workflow_id,
                **fields,
            )
            session.add(deployment)
        return deployment

    async def get(self, deployment_id: str) -> BotDeployment | None:
        return await self._get(BotDeployment, deployment_id)

    async def update(self, deployment_id: str, **values: Any) -> BotDeployment:
        """Set fields (``status``, ``step``, ``progress``, ``platform_bot_id``, ``error`` …)."""
        return await self._update(BotDeployment, deployment_id, values)

    async def mark_active(self, deployment_id: str, platform_bot_id: str | None) -> bool:
        """The deployment is live: ``active`` at 100 %, with the platform's bot id
        (``deployed_at`` kept from the first time); False when the record is gone."""
        async with self.database.session() as session:
            record = await session.get(BotDeployment, deployment_id)
            if record is None:
                return False
            record.status, record.step, record.progress = "active", "active", 100
            record.platform_bot_id = platform_bot_id
            record.deployed_at = record.deployed_at or utcnow()
        return True

    async def delete(self, deployment_id: str) -> bool:
        """Delete the record (a compensation); False if it was not there (already compensated)."""
        async with self.database.session() as session:
            result = await session.execute(delete(BotDeployment).where(BotDeployment.id == deployment_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def for_owner(self, owner: str) -> list[BotDeployment]:
        async with self.database.session() as session:
            query = select(BotDeployment).where(BotDeployment.owner == owner).order_by(BotDeployment.created_at)
            return list((await session.scalars(query)).all())
