"""LinkedIn activities (Unipile): visit, like, invite, message, invitation status, withdraw.

Every write is once per idempotency key; liking several posts heartbeats while it goes.

A write made for a campaign's lead workflow (``campaign-{campaign}-lead-{lead}``) reads the
campaign's status in the transaction that opens its outbox row, and refuses (non-retryable
``CampaignPaused``, nothing recorded) while it is ``paused``. The control stores ``paused``
before it signals anyone, so once a pause is acknowledged no action of the campaign goes out,
whether the lead has heard of the pause or not (its start still in flight, its pause signal not
delivered yet); the lead then holds until ``resume``. An action past this check when the pause
lands is under way, not after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from followthrough.providers.calls import heartbeating, provider_call
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
from followthrough.services import Services

if TYPE_CHECKING:
    from followthrough.store.database import SyncConnection

R = TypeVar("R", bound=BaseModel)
In = TypeVar("In", bound="_Keyed")


class _Keyed(Protocol):
    """A LinkedIn action's input: a model carrying its idempotency key."""

    idempotency_key: str


#: The error type of an action refused because its campaign is paused (the lead holds on it).
CAMPAIGN_PAUSED = "CampaignPaused"
_LEAD_PREFIX, _LEAD_INFIX = "campaign-", "-lead-"


def campaigns_of_lead(workflow_id: str) -> list[str]:
    """The campaign ids a lead workflow id (``campaign-{campaign}-lead-{lead}``) may spell: one
    per ``-lead-`` in it, since either id may contain that too (none for another workflow)."""
    if not workflow_id.startswith(_LEAD_PREFIX):
        return []
    rest = workflow_id[len(_LEAD_PREFIX) :]
    parts = rest.split(_LEAD_INFIX)
    return [_LEAD_INFIX.join(parts[:i]) for i in range(1, len(parts))]


class LinkedInActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    async def _once(self, operation: str, call: Callable[[In], Awaitable[R]], input: In, result_type: type[R]) -> R:
        """``call(input)`` at most once per ``input.idempotency_key`` (the recorded result after),
        recorded as ``operation``; refused while the lead's campaign is paused (checked in the
        transaction that opens the outbox row: one transaction fewer per action)."""
        from followthrough.providers.idempotency import idempotent
        from followthrough.store.repositories.executions import any_paused_in

        candidates = campaigns_of_lead(activity.info().workflow_id or "")

        def refuse_if_paused(conn: SyncConnection) -> None:
            if any_paused_in(conn, candidates):
                raise ApplicationError("the campaign is paused", type=CAMPAIGN_PAUSED, non_retryable=True)

        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=self._providers.linkedin.name,
                operation=operation,
                key=input.idempotency_key,
                request=cast(BaseModel, input),
                result_type=result_type,
                call=lambda: call(input),
                guard=refuse_if_paused,
            )

    @activity.defn(name="linkedin.visit_profile")
    async def visit_profile(self, input: VisitProfileInput) -> Profile:
        return await self._once("visit_profile", self._providers.linkedin.visit_profile, input, Profile)

    @activity.defn(name="linkedin.like_posts")
    async def like_posts(self, input: LikePostsInput) -> LikePostsResult:
        async with heartbeating():
            return await self._once("like_posts", self._providers.linkedin.like_posts, input, LikePostsResult)

    @activity.defn(name="linkedin.send_invitation")
    async def send_invitation(self, input: SendInvitationInput) -> InvitationResult:
        return await self._once("send_invitation", self._providers.linkedin.send_invitation, input, InvitationResult)

    @activity.defn(name="linkedin.send_message")
    async def send_message(self, input: SendLinkedInMessageInput) -> LinkedInMessageResult:
        return await self._once("send_message", self._providers.linkedin.send_message, input, LinkedInMessageResult)

    @activity.defn(name="linkedin.invitation_status")
    async def invitation_status(self, input: InvitationStatusInput) -> InvitationStatusResult:
        with provider_call():
            return await self._providers.linkedin.invitation_status(input)

    @activity.defn(name="linkedin.withdraw_invitation")
    async def withdraw_invitation(self, input: WithdrawInvitationInput) -> WithdrawInvitationResult:
        return await self._once(
            "withdraw_invitation", self._providers.linkedin.withdraw_invitation, input, WithdrawInvitationResult
        )
