"""The per-lead statements of a campaign: a lead's ``campaign_executions`` record and its
campaign's status, in Core.

Every lead writes its record three or four times and reads its campaign's status before each
LinkedIn write: the statements are built once, with bound parameters, and run as plain Core
functions through ``Database.run()`` (an ORM session's unit of work cost more CPU than the
writes, and aiosqlite's thread hops per statement more again; see ``docs/CONVENTIONS.md``).
The columns' defaults still apply (``id``, ``created_at``; ``updated_at`` on every update).
One record per (campaign, lead), so every write is an upsert and a retried call rewrites the
same row instead of adding one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from followthrough.store.database import Database, SyncConnection
from followthrough.store.models import Campaign, CampaignExecution

_T = cast(Table, CampaignExecution.__table__)
_THIS = (_T.c.campaign_id == bindparam("b_campaign"), _T.c.lead_id == bindparam("b_lead"))
_READ = select(_T.c.current_step, _T.c.execution_data, _T.c.started_at, _T.c.status).where(*_THIS)
_INSERT = _T.insert()  # the columns come from each call's parameters
_UPDATE = _T.update().where(*_THIS)  # the SET clause too
_CAMPAIGNS = cast(Table, Campaign.__table__)
_STATUS = select(_CAMPAIGNS.c.status).where(_CAMPAIGNS.c.id.in_(bindparam("b_campaigns", expanding=True)))

#: The statuses a record ends in: once one is written, it is the record's for good.
FINAL_STATUSES = frozenset({"completed", "failed", "stopped", "goal_reached"})

#: Re-exported so a caller that begins a record inside its own transaction can retry on it.
BeginConflict = IntegrityError


def _find(conn: SyncConnection, campaign_id: str, lead_id: str) -> Row[Any, Any, Any, Any] | None:
    return conn.execute(_READ, {"b_campaign": campaign_id, "b_lead": lead_id}).first()


def _update(conn: SyncConnection, campaign_id: str, lead_id: str, **values: Any) -> None:
    conn.execute(_UPDATE, {"b_campaign": campaign_id, "b_lead": lead_id, **values})


def put_steps(
    data: dict[str, Any] | None, current_step: int, new: Iterable[dict[str, Any]]
) -> tuple[dict[str, Any], int]:
    """The record's data with these steps' results stored (each, a JSON object with its
    ``step`` number, replacing an earlier write of the same step), and ``current_step`` moved
    forward."""
    new = list(new)
    data = dict(data or {})
    numbers = {step["step"] for step in new}
    steps = [s for s in data.get("steps", []) if s.get("step") not in numbers]
    steps.extend(new)
    steps.sort(key=lambda s: s["step"])
    data["steps"] = steps
    return data, max([current_step, *numbers])


def begin_in(
    conn: SyncConnection,
    *,
    campaign_id: str,
    lead_id: str,
    workflow_id: str,
    total_steps: int,
    started_at: datetime,
) -> None:
    """Create the record in ``in_progress`` (or reset it for this workflow run), inside a
    transaction of the caller's. It raises :data:`BeginConflict` when a concurrent begin
    inserted the row first: then run the transaction again."""
    row = _find(conn, campaign_id, lead_id)
    values: dict[str, Any] = {
        "workflow_execution_id": workflow_id,
        "status": "in_progress",
        "total_steps": total_steps,
        "completed_at": None,
    }
    if row is None:
        conn.execute(
            _INSERT,
            {
                **values,
                "campaign_id": campaign_id,
                "lead_id": lead_id,
                "current_step": 0,
                "started_at": started_at,
                "execution_data": {"steps": []},
            },
        )
        return
    values["started_at"] = row.started_at or started_at
    if row.current_step == 0:
        values["execution_data"] = {"steps": []}
    _update(conn, campaign_id, lead_id, **values)


class ExecutionRecords:
    """A lead's execution record, written by its workflow's activities."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def begin(
        self, *, campaign_id: str, lead_id: str, workflow_id: str, total_steps: int, started_at: datetime
    ) -> None:
        """:func:`begin_in` in a transaction of its own."""
        await self.database.run(
            lambda conn: begin_in(
                conn,
                campaign_id=campaign_id,
                lead_id=lead_id,
                workflow_id=workflow_id,
                total_steps=total_steps,
                started_at=started_at,
            )
        )

    async def record_steps(self, campaign_id: str, lead_id: str, steps: list[dict[str, Any]]) -> bool:
        """Store these steps' results (see :func:`put_steps`); False when there is no record
        (the campaign was deleted meanwhile)."""

        def record(conn: SyncConnection) -> bool:
            row = _find(conn, campaign_id, lead_id)
            if row is None:
                return False
            data, current = put_steps(row.execution_data, row.current_step, steps)
            _update(conn, campaign_id, lead_id, execution_data=data, current_step=current)
            return True

        return await self.database.run(record)

    async def close(
        self,
        campaign_id: str,
        lead_id: str,
        *,
        status: str,
        outcome: str,
        ended_at_node: str | None,
        current_step: int,
        finished_at: datetime,
        steps: list[dict[str, Any]],
    ) -> str | None:
        """Close the record with ``outcome`` (``status`` one of :data:`FINAL_STATUSES`),
        storing ``steps`` first, unless it is closed already: first writer wins. Returns the
        outcome the record holds now (``outcome``, or the one an earlier close wrote), or None
        when there is no record or a closed one holds none."""

        def close(conn: SyncConnection) -> str | None:
            row = _find(conn, campaign_id, lead_id)
            if row is None:
                return None
            if row.status in FINAL_STATUSES:
                recorded = (row.execution_data or {}).get("outcome")
                return recorded if isinstance(recorded, str) else None
            data: dict[str, Any] = dict(row.execution_data or {})
            if steps:
                data, _ = put_steps(data, row.current_step, steps)
            data["outcome"] = outcome
            data["ended_at_node"] = ended_at_node
            _update(
                conn,
                campaign_id,
                lead_id,
                status=status,
                current_step=current_step,
                completed_at=finished_at,
                execution_data=data,
            )
            return outcome

        return await self.database.run(close)


def any_paused_in(conn: SyncConnection, campaign_ids: list[str]) -> bool:
    """Whether any of these campaigns is ``paused``, read in ``conn``'s transaction (none
    given: False)."""
    if not campaign_ids:
        return False
    return "paused" in conn.execute(_STATUS, {"b_campaigns": campaign_ids}).scalars().all()
