"""Shared by the lead-outreach and sender tests: store records, fake provider activities under
the contract names (recording the server instant each call was scheduled at) and a worker
with the real store activities, the real SenderWorkflow and the fakes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.processes.campaigns.records import CampaignExecutionActivities
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import lifted_account_columns
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.providers.contracts.linkedin import (
    InvitationResult,
    InvitationStatusInput,
    InvitationStatusResult,
    LikePostsInput,
    LikePostsResult,
    LinkedInMessageResult,
    Profile,
    SendInvitationInput,
    SendLinkedInMessageInput,
    VisitProfileInput,
    WithdrawInvitationInput,
    WithdrawInvitationResult,
)
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.services import Services
from followthrough.store.models import Campaign, CampaignExecution, CampaignLead, SenderAccount

#: Every day, all day, no spacing, no caps: actions go out the moment they are due.
OPEN_ACCOUNT: dict[str, Any] = lifted_account_columns()


@dataclass
class Call:
    name: str
    at: datetime
    input: Any


@dataclass
class FakeProviders:
    """``linkedin.*`` and ``messaging.send`` as the providers define them, recording calls."""

    calls: list[Call] = field(default_factory=list)
    #: Answers of ``linkedin.invitation_status``, one per poll; the last one repeats.
    statuses: list[str] = field(default_factory=lambda: ["pending"])
    fail: dict[str, Exception] = field(default_factory=dict)
    #: Names whose call blocks (heartbeating) until cancelled or ``release`` is set.
    block: set[str] = field(default_factory=set)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)
    polls: int = 0

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    @property
    def actions(self) -> list[str]:
        return [c.name for c in self.calls if c.name != "linkedin.invitation_status"]

    async def _record(self, name: str, input: Any) -> None:
        if name in self.fail:
            raise self.fail[name]
        if name in self.block:
            self.started.set()
            try:
                while not self.release.is_set():
                    activity.heartbeat()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
        self.calls.append(Call(name, activity.info().current_attempt_scheduled_time, input))

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="linkedin.visit_profile")
        async def visit(input: VisitProfileInput) -> Profile:
            await self._record("linkedin.visit_profile", input)
            return Profile(provider_id=f"prov-{input.identifier}", public_identifier=input.identifier)

        @activity.defn(name="linkedin.like_posts")
        async def like(input: LikePostsInput) -> LikePostsResult:
            await self._record("linkedin.like_posts", input)
            return LikePostsResult(liked=[f"post-{i}" for i in range(input.number_of_posts)])

        @activity.defn(name="linkedin.send_invitation")
        async def invite(input: SendInvitationInput) -> InvitationResult:
            await self._record("linkedin.send_invitation", input)
            return InvitationResult(invitation_id=f"inv-{input.identifier}", provider_id=f"prov-{input.identifier}")

        @activity.defn(name="linkedin.send_message")
        async def message(input: SendLinkedInMessageInput) -> LinkedInMessageResult:
            await self._record("linkedin.send_message", input)
            return LinkedInMessageResult(chat_id="chat-1", message_id=f"msg-{len(self.calls)}")

        @activity.defn(name="linkedin.invitation_status")
        async def status(input: InvitationStatusInput) -> InvitationStatusResult:
            await self._record("linkedin.invitation_status", input)
            answer = self.statuses[min(self.polls, len(self.statuses) - 1)]
            self.polls += 1
            return InvitationStatusResult(invitation_id=input.invitation_id, status=answer)  # type: ignore[arg-type]

        @activity.defn(name="linkedin.withdraw_invitation")
        async def withdraw(input: WithdrawInvitationInput) -> WithdrawInvitationResult:
            await self._record("linkedin.withdraw_invitation", input)
            return WithdrawInvitationResult(invitation_id=input.invitation_id, withdrawn=True)

        @activity.defn(name="messaging.send")
        async def whatsapp(input: SendMessageInput) -> SendMessageResult:
            await self._record("messaging.send", input)
            return SendMessageResult(message_id="wamid.1", to=input.to)

        return [visit, like, invite, message, status, withdraw, whatsapp]


def permanent(message: str) -> ApplicationError:
    return ApplicationError(message, type="ValidationError", non_retryable=True)


@dataclass
class Seeded:
    campaign_id: str
    account_id: str
    lead_ids: list[str]


async def seed(
    services: Services,
    graph: dict[str, Any],
    *,
    leads: int = 1,
    account: dict[str, Any] | None = None,
    lead_fields: dict[str, Any] | None = None,
) -> Seeded:
    """A sender account, a campaign with ``graph`` and ``leads`` leads in the store."""
    suffix = uuid.uuid4().hex[:8]
    account_id, campaign_id = f"acct-{suffix}", f"camp-{suffix}"
    async with services.database.session() as session:
        session.add(
            SenderAccount(
                id=account_id,
                organization_id="org-1",
                provider_account_id=f"unipile-{suffix}",
                **(OPEN_ACCOUNT if account is None else account),
            )
        )
        await session.flush()  # no ORM relationships: insert in foreign-key order by hand
        session.add(
            Campaign(id=campaign_id, organization_id="org-1", name="c", sender_account_id=account_id, graph=graph)
        )
        await session.flush()
        lead_ids = []
        for position in range(1, leads + 1):
            lead_id = f"lead-{suffix}-{position}"
            lead_ids.append(lead_id)
            fields = {
                "first_name": "Ana",
                "company": "Acme",
                "linkedin_url": f"https://www.linkedin.com/in/lead-{suffix}-{position}/",
                **(lead_fields or {}),
            }
            session.add(CampaignLead(id=lead_id, campaign_id=campaign_id, position=position, **fields))
    return Seeded(campaign_id, account_id, lead_ids)


async def execution_record(services: Services, campaign_id: str, lead_id: str) -> CampaignExecution | None:
    from sqlalchemy import select

    async with services.database.session() as session:
        return await session.scalar(
            select(CampaignExecution).where(
                CampaignExecution.campaign_id == campaign_id, CampaignExecution.lead_id == lead_id
            )
        )


@asynccontextmanager
async def outreach_worker(
    client: Client,
    services: Services,
    fakes: FakeProviders,
    task_queue: str,
    *,
    extra_workflows: list[type] | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    acts = [
        *activity_methods(OutreachActivities(services)),
        *activity_methods(CampaignExecutionActivities(services)),
        *fakes.activities(),
    ]
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[LeadOutreachWorkflow, SenderWorkflow, *(extra_workflows or [])],
        activities=acts,
        # Deliver a cancellation at the fakes' next heartbeat instead of tens of seconds later.
        max_heartbeat_throttle_interval=timedelta(milliseconds=50),
        default_heartbeat_throttle_interval=timedelta(milliseconds=50),
        **options,
    ) as worker:
        yield worker
