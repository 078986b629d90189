"""Campaigns, their lead lists (paged by a stable position) and per-lead executions."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from followthrough.store.models import Campaign, CampaignExecution, CampaignLead, SenderAccount
from followthrough.store.repositories.base import Repository, insert_if_absent, retrying
from followthrough.store.types import new_id, utcnow

#: Execution statuses after which a lead is done.
TERMINAL_STATUSES = frozenset({"completed", "failed", "stopped", "goal_reached"})
_INSERT_CHUNK = 1000


def normalize_linkedin_url(url: str | None) -> str | None:
    """One spelling per profile: ``https://www.linkedin.com/in/<slug>`` (lower case, no query,
    no trailing slash), so the same person given twice is recognised."""
    if url is None or not url.strip():
        return None
    value = url.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").lower()
    value = re.sub(r"^(https?://)?([a-z]{2,3}\.)?(www\.)?linkedin\.com", "https://www.linkedin.com", value)
    return value


class LeadIdTaken(ValueError):
    """A lead id given in a list is already a lead's, of this or another list (ids are global)."""

    def __init__(self, ids: list[str]) -> None:
        shown = ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        super().__init__(f"lead id already in use: {shown}; leave id out to have one made")
        self.ids = ids


class NewCampaignLead(BaseModel):
    """A lead as it arrives in a list (CSV or JSON): a LinkedIn id or URL identifies it."""

    id: str | None = Field(default=None, max_length=200)
    linkedin_id: str | None = Field(default=None, max_length=128)
    linkedin_url: str | None = Field(default=None, max_length=500)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    headline: str | None = Field(default=None, max_length=300)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    data: dict[str, Any] = Field(default_factory=dict, max_length=100, description="other columns, at most 100")


@dataclass(frozen=True)
class AddLeadsResult:
    added: int
    duplicates: int  # already in the campaign, or repeated in the input
    ids: list[str]  # of the added leads, in position order


class Campaigns(Repository):
    async def create(
        self,
        *,
        name: str,
        organization_id: str | None = None,
        sender_account_id: str | None = None,
        graph: dict[str, Any] | None = None,
        campaign_id: str | None = None,
        **settings: Any,
    ) -> Campaign:
        async with self.database.session() as session:
            campaign = Campaign(
                **({"id": campaign_id} if campaign_id else {}),
                name=name,
                organization_id=organization_id,
                sender_account_id=sender_account_id,
                graph=graph or {},
                **settings,
            )
            session.add(campaign)
        return campaign

    async def get(self, campaign_id: str) -> Campaign | None:
        return await self._get(Campaign, campaign_id)

    async def update(self, campaign_id: str, **values: Any) -> Campaign:
        return await self._update(Campaign, campaign_id, values)

    async def newest(
        self,
        *,
        organization: str | None = None,
        status: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Campaign]:
        """Campaigns newest first (``created_at``, then id), after the keyset ``before``; only
        ``organization``'s when it is given."""
        query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit)
        if organization is not None:
            query = query.where(Campaign.organization_id == organization)
        if status is not None:
            query = query.where(Campaign.status == status)
        if before is not None:
            at, key = before
            query = query.where((Campaign.created_at < at) | ((Campaign.created_at == at) & (Campaign.id < key)))
        async with self.database.session() as session:
            return list((await session.scalars(query)).all())

    async def record_run_status(self, campaign_id: str, status: str, *, workflow_id: str) -> bool:
        """The orchestrator's status write: ``running`` (its start: it does not override a
        ``paused`` the control stored meanwhile, which writes the store before signalling;
        the first one stamps ``started_at`` and ``workflow_id``), ``completed`` or ``stopped``
        (stamping ``completed_at``), or another. False: no such campaign (deleted meanwhile)."""
        async with self.database.session() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None:
                return False
            if status != "running" or campaign.status != "paused":
                campaign.status = status
            if status == "running" and campaign.started_at is None:
                campaign.started_at = utcnow()
                campaign.workflow_id = workflow_id
            if status in ("completed", "stopped"):
                campaign.completed_at = utcnow()
        return True

    async def with_sender(
        self, campaign_id: str, sender_account_id: str
    ) -> tuple[Campaign | None, SenderAccount | None]:
        """The campaign and the sender account, read in one transaction."""
        async with self.database.session() as session:
            return await session.get(Campaign, campaign_id), await session.get(SenderAccount, sender_account_id)

    async def set_status(self, campaign_id: str, status: str) -> Campaign:
        values: dict[str, Any] = {"status": status}
        if status == "running":
            values["started_at"] = utcnow()
        elif status in ("stopped", "completed"):
            values["completed_at"] = utcnow()
        return await self._update(Campaign, campaign_id, values)


class CampaignLeads(Repository):
    async def add(self, campaign_id: str, leads: Iterable[NewCampaignLead]) -> AddLeadsResult:
        """Append leads to the campaign's list, skipping any whose LinkedIn id or normalised URL
        the campaign already has (or that repeat in the input). A lead needs one of the two.

        Positions continue after the last one, dense and in input order. Concurrent adds to one
        campaign are serialised by updating the campaign row first (a row lock on PostgreSQL and
        MariaDB, the write lock on SQLite), so positions never collide.
        """
        async with self.database.session() as session:
            locked = await session.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(updated_at=utcnow())
            )
            if locked.rowcount == 0:  # type: ignore[attr-defined]
                await self._require(session, Campaign, campaign_id)
            existing = await session.execute(
                select(CampaignLead.linkedin_id, CampaignLead.linkedin_url).where(
                    CampaignLead.campaign_id == campaign_id
                )
            )
            seen_ids: set[str] = set()
            seen_urls: set[str] = set()
            for linkedin_id, linkedin_url in existing:
                if linkedin_id:
                    seen_ids.add(linkedin_id)
                if linkedin_url:
                    seen_urls.add(linkedin_url)
            last = await session.scalar(
                select(func.max(CampaignLead.position)).where(CampaignLead.campaign_id == campaign_id)
            )
            position = last or 0
            rows: list[dict[str, Any]] = []
            given: list[str] = []  # the ids the list itself names (the others are made here)
            duplicates = 0
            now = utcnow()
            for lead in leads:
                url = normalize_linkedin_url(lead.linkedin_url)
                linkedin_id = (lead.linkedin_id or "").strip() or None
                if url is None and linkedin_id is None:
                    raise ValueError(f"lead {len(rows) + duplicates + 1} has neither a LinkedIn id nor a URL")
                if (linkedin_id and linkedin_id in seen_ids) or (url and url in seen_urls):
                    duplicates += 1
                    continue
                if linkedin_id:
                    seen_ids.add(linkedin_id)
                if url:
                    seen_urls.add(url)
                position += 1
                if lead.id:
                    given.append(lead.id)
                fields = lead.model_dump(exclude={"id", "linkedin_id", "linkedin_url"})
                rows.append(
                    {
                        **fields,
                        "id": lead.id or new_id(),
                        "campaign_id": campaign_id,
                        "position": position,
                        "linkedin_id": linkedin_id,
                        "linkedin_url": url,
                        "created_at": now,
                    }
                )
            taken = await _taken_in(session, given)
            if taken:
                raise LeadIdTaken(taken)
            try:
                for start in range(0, len(rows), _INSERT_CHUNK):
                    await session.execute(insert(CampaignLead), rows[start : start + _INSERT_CHUNK])
            except IntegrityError:  # taken by a concurrent list between the check and the insert
                raise LeadIdTaken(given) from None
            if rows:
                await session.execute(
                    update(Campaign)
                    .where(Campaign.id == campaign_id)
                    .values(lead_count=Campaign.lead_count + len(rows))
                )
        return AddLeadsResult(added=len(rows), duplicates=duplicates, ids=[row["id"] for row in rows])

    async def taken(self, ids: list[str]) -> list[str]:
        """Which of ``ids`` a new list may not use: repeated among them, or already leads' ids
        (a list may name its leads' ids; they are global)."""
        async with self.database.session() as session:
            return await _taken_in(session, ids)

    async def page(self, campaign_id: str, after_position: int = 0, limit: int = 100) -> list[CampaignLead]:
        """The next ``limit`` leads after a cursor (a position; 0 = from the start)."""
        async with self.database.session() as session:
            rows = await session.scalars(
                select(CampaignLead)
                .where(CampaignLead.campaign_id == campaign_id, CampaignLead.position > after_position)
                .order_by(CampaignLead.position)
                .limit(limit)
            )
            return list(rows.all())

    async def get(self, lead_id: str) -> CampaignLead | None:
        return await self._get(CampaignLead, lead_id)

    async def count(self, campaign_id: str) -> int:
        async with self.database.session() as session:
            query = select(func.count()).select_from(CampaignLead).where(CampaignLead.campaign_id == campaign_id)
            return int(await session.scalar(query) or 0)

    async def positions(self, campaign_id: str, after_position: int, limit: int) -> tuple[list[tuple[str, int]], int]:
        """The ids and positions of the next ``limit`` leads after a cursor (a position), and
        the campaign's lead count, read in one transaction: only ids leave the store."""
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(CampaignLead.id, CampaignLead.position)
                    .where(CampaignLead.campaign_id == campaign_id, CampaignLead.position > after_position)
                    .order_by(CampaignLead.position)
                    .limit(limit)
                )
            ).all()
            total = await session.scalar(
                select(func.count()).select_from(CampaignLead).where(CampaignLead.campaign_id == campaign_id)
            )
        return [(row.id, row.position) for row in rows], int(total or 0)

    async def ids_with_phone(self, phone: str) -> set[str]:
        """The ids of the campaign leads with this phone (of any campaign)."""
        async with self.database.session() as session:
            return set(await session.scalars(select(CampaignLead.id).where(CampaignLead.phone == phone)))

    async def replying(self, account_id: str, linkedin_ids: set[str], url: str | None) -> list[tuple[str, str]]:
        """(campaign, lead) pairs of the leads that are this LinkedIn person (one of
        ``linkedin_ids``, or the normalised profile ``url``) in campaigns sent from the sender
        accounts acting as the Unipile account ``account_id`` (its ``provider_account_id``, or
        the row's own id when none is recorded)."""
        match: ColumnElement[bool] = CampaignLead.linkedin_id.in_(sorted(linkedin_ids))
        if url:
            match = or_(match, CampaignLead.linkedin_url == url)
        acting_as = or_(
            SenderAccount.provider_account_id == account_id,
            and_(SenderAccount.provider_account_id.is_(None), SenderAccount.id == account_id),
        )
        async with self.database.session() as session:
            rows = await session.execute(
                select(CampaignLead.campaign_id, CampaignLead.id)
                .join(Campaign, Campaign.id == CampaignLead.campaign_id)
                .join(SenderAccount, SenderAccount.id == Campaign.sender_account_id)
                .where(match, acting_as)
                .order_by(CampaignLead.campaign_id, CampaignLead.id)
            )
            return [(row.campaign_id, row.id) for row in rows]


async def _taken_in(session: AsyncSession, ids: list[str]) -> list[str]:
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        return repeated
    found: list[str] = []
    for start in range(0, len(ids), _INSERT_CHUNK):
        chunk = ids[start : start + _INSERT_CHUNK]
        found += await session.scalars(select(CampaignLead.id).where(CampaignLead.id.in_(chunk)))
    return sorted(found)


class CampaignExecutions(Repository):
    async def get(self, campaign_id: str, lead_id: str) -> CampaignExecution | None:
        async with self.database.session() as session:
            return await session.scalar(
                select(CampaignExecution).where(
                    CampaignExecution.campaign_id == campaign_id, CampaignExecution.lead_id == lead_id
                )
            )

    async def upsert(
        self,
        campaign_id: str,
        lead_id: str,
        *,
        status: str | None = None,
        current_step: int | None = None,
        total_steps: int | None = None,
        workflow_execution_id: str | None = None,
        execution_data: dict[str, Any] | None = None,
        merge_data: dict[str, Any] | None = None,
    ) -> CampaignExecution:
        """Create the lead's execution record or update it (one per campaign and lead).

        ``execution_data`` replaces the JSON; ``merge_data`` merges keys into it (per-step
        results). ``started_at`` is set the first time the status is ``in_progress``,
        ``completed_at`` when it reaches a terminal status.
        """
        values: dict[str, Any] = {
            name: value
            for name, value in {
                "status": status,
                "current_step": current_step,
                "total_steps": total_steps,
                "workflow_execution_id": workflow_execution_id,
            }.items()
            if value is not None
        }

        async def transaction() -> CampaignExecution:
            async with self.database.session() as session:
                # Insert-if-absent first, then lock the row: locking a row that does not exist
                # yet takes a gap lock on MariaDB, and two such first upserts deadlock.
                await insert_if_absent(
                    session,
                    CampaignExecution.__table__,  # type: ignore[arg-type]
                    {"id": new_id(), "campaign_id": campaign_id, "lead_id": lead_id, "execution_data": {}},
                )
                record = await session.scalar(
                    select(CampaignExecution)
                    .where(CampaignExecution.campaign_id == campaign_id, CampaignExecution.lead_id == lead_id)
                    .with_for_update()
                )
                assert record is not None
                for name, value in values.items():
                    setattr(record, name, value)
                data = dict(execution_data if execution_data is not None else record.execution_data or {})
                data.update(merge_data or {})
                record.execution_data = data
                _stamp(record, utcnow())
            return record

        return await retrying(transaction)

    async def status_counts(self, campaign_id: str) -> dict[str, int]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(CampaignExecution.status, func.count())
                .where(CampaignExecution.campaign_id == campaign_id)
                .group_by(CampaignExecution.status)
            )
            return {status: int(count) for status, count in rows}

    async def status_counts_for(self, campaign_ids: list[str]) -> dict[str, dict[str, int]]:
        """:meth:`status_counts` of several campaigns in one grouped query (a list page's)."""
        if not campaign_ids:
            return {}
        query = (
            select(CampaignExecution.campaign_id, CampaignExecution.status, func.count())
            .where(CampaignExecution.campaign_id.in_(campaign_ids))
            .group_by(CampaignExecution.campaign_id, CampaignExecution.status)
        )
        found: dict[str, dict[str, int]] = {c: {} for c in campaign_ids}
        async with self.database.session() as session:
            for campaign_id, status, count in await session.execute(query):
                found[campaign_id][status] = int(count)
        return found

    async def step_counts(self, campaign_id: str) -> tuple[list[StepCount], int]:
        """The campaign's steps counted in the database (never a listing of its records): how
        many leads did each node with each result, and how many of those rest right after it;
        and how many leads in progress have no step yet (they are at the start node).

        One pass over the campaign's records (the ``(campaign_id, lead_id)`` unique key finds
        them); the caller maps the counts onto the graph."""
        dialect = self.database.engine.dialect.name
        sql = _STEP_COUNTS["mysql" if dialect in ("mysql", "mariadb") else dialect]
        async with self.database.session() as session:
            rows = (await session.execute(text(sql), {"campaign": campaign_id})).all()
            unstarted = await session.scalar(
                select(func.count())
                .select_from(CampaignExecution)
                .where(
                    CampaignExecution.campaign_id == campaign_id,
                    CampaignExecution.status == "in_progress",
                    CampaignExecution.current_step == 0,
                )
            )
        counts = [
            StepCount(str(node), str(status or "done"), _branch(branch), bool(resting), int(n))
            for node, status, branch, resting, n in rows
            if node is not None
        ]
        return counts, int(unstarted or 0)

    async def for_campaign(self, campaign_id: str, status: str | None = None) -> list[CampaignExecution]:
        query = select(CampaignExecution).where(CampaignExecution.campaign_id == campaign_id)
        if status is not None:
            query = query.where(CampaignExecution.status == status)
        async with self.database.session() as session:
            return list((await session.scalars(query.order_by(CampaignExecution.created_at))).all())


@dataclass(frozen=True)
class StepCount:
    """How many leads' records hold one kind of step: ``node_id`` done with ``status`` (and a
    condition's ``branch``); ``resting`` when it is the last step of a lead still in progress."""

    node_id: str
    status: str
    branch: bool | None
    resting: bool
    count: int


#: The per-step aggregate of a campaign's records, per dialect: the steps are a JSON list in
#: ``execution_data``, unnested by each back-end's own table function, grouped in the database.
_STEP_COUNTS = {
    "sqlite": """
        SELECT json_extract(s.value, '$.node_id'), json_extract(s.value, '$.status'),
               json_extract(s.value, '$.branch'),
               ce.status = 'in_progress' AND json_extract(s.value, '$.step') = ce.current_step, count(*)
        FROM campaign_executions ce, json_each(ce.execution_data, '$.steps') s
        WHERE ce.campaign_id = :campaign GROUP BY 1, 2, 3, 4""",
    "postgresql": """
        SELECT s ->> 'node_id', s ->> 'status', s ->> 'branch',
               ce.status = 'in_progress' AND (s ->> 'step')::int = ce.current_step, count(*)
        FROM campaign_executions ce
        CROSS JOIN LATERAL json_array_elements(coalesce(ce.execution_data::json -> 'steps', '[]'::json)) s
        WHERE ce.campaign_id = :campaign GROUP BY 1, 2, 3, 4""",
    "mysql": """
        SELECT s.node_id, s.status, s.branch, ce.status = 'in_progress' AND s.step = ce.current_step, count(*)
        FROM campaign_executions ce, JSON_TABLE(ce.execution_data, '$.steps[*]' COLUMNS (
            node_id VARCHAR(64) PATH '$.node_id', status VARCHAR(16) PATH '$.status',
            branch VARCHAR(8) PATH '$.branch', step INT PATH '$.step')) s
        WHERE ce.campaign_id = :campaign GROUP BY 1, 2, 3, 4""",
}


def _branch(value: object) -> bool | None:
    """A branch as each back-end spells a JSON boolean (1/0, 'true'/'false') or None."""
    if value is None:
        return None
    return str(value).lower() in ("1", "true")


def _stamp(record: CampaignExecution, now: datetime) -> None:
    if record.status == "in_progress" and record.started_at is None:
        record.started_at = now
    if record.status in TERMINAL_STATUSES and record.completed_at is None:
        record.completed_at = now
