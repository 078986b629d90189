"""What a lead workflow reads when it opens: its campaign, itself and its sender account, in the
transaction that begins its execution record (``outreach.open_lead``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from followthrough.store.database import SyncConnection
from followthrough.store.models import Campaign, CampaignLead, SenderAccount
from followthrough.store.repositories.base import Repository, retrying

T = TypeVar("T")


@dataclass(frozen=True)
class LeadRecords:
    """The three records a lead's plan is made from (None where missing)."""

    campaign: Campaign | None
    lead: CampaignLead | None
    account: SenderAccount | None


class LeadPlans(Repository):
    async def open(
        self,
        *,
        campaign_id: str,
        lead_id: str,
        sender_account_id: str,
        plan: Callable[[LeadRecords], T],
        begin: Callable[[SyncConnection, T], None],
    ) -> T:
        """Read the records, make ``plan`` of them (it raises to refuse, before anything is
        written), then ``begin`` in the same transaction (:meth:`Database.run`: one thread hop
        on SQLite); run again when a concurrent begin inserted the same row first (then
        ``begin`` finds it and updates it)."""

        def transaction(conn: SyncConnection) -> T:
            with Session(bind=conn) as session:
                made = plan(
                    LeadRecords(
                        campaign=session.get(Campaign, campaign_id),
                        lead=session.get(CampaignLead, lead_id),
                        account=session.get(SenderAccount, sender_account_id),
                    )
                )
            begin(conn, made)
            return made

        return await retrying(lambda: self.database.run(transaction), attempts=3)
