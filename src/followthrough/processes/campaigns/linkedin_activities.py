"""LinkedIn activities (Unipile): visit, like, invite, message, invitation status, withdraw.

Every write is once per idempotency key; liking several posts heartbeats while it goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

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
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services

R = TypeVar("R", bound=BaseModel)


class LinkedInActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    async def _once(
        self, operation: str, key: str, request: BaseModel, result_type: type[R], call: Callable[[], Awaitable[R]]
    ) -> R:
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=self._providers.linkedin.name,
                operation=operation,
                key=key,
                request=request,
                result_type=result_type,
                call=call,
            )

    @activity.defn(name="linkedin.visit_profile")
    async def visit_profile(self, input: VisitProfileInput) -> Profile:
        linkedin = self._providers.linkedin
        return await self._once(
            "visit_profile", input.idempotency_key, input, Profile, lambda: linkedin.visit_profile(input)
        )

    @activity.defn(name="linkedin.like_posts")
    async def like_posts(self, input: LikePostsInput) -> LikePostsResult:
        linkedin = self._providers.linkedin
        async with heartbeating():
            return await self._once(
                "like_posts", input.idempotency_key, input, LikePostsResult, lambda: linkedin.like_posts(input)
            )

    @activity.defn(name="linkedin.send_invitation")
    async def send_invitation(self, input: SendInvitationInput) -> InvitationResult:
        linkedin = self._providers.linkedin
        return await self._once(
            "send_invitation", input.idempotency_key, input, InvitationResult, lambda: linkedin.send_invitation(input)
        )

    @activity.defn(name="linkedin.send_message")
    async def send_message(self, input: SendLinkedInMessageInput) -> LinkedInMessageResult:
        linkedin = self._providers.linkedin
        return await self._once(
            "send_message", input.idempotency_key, input, LinkedInMessageResult, lambda: linkedin.send_message(input)
        )

    @activity.defn(name="linkedin.invitation_status")
    async def invitation_status(self, input: InvitationStatusInput) -> InvitationStatusResult:
        with provider_call():
            return await self._providers.linkedin.invitation_status(input)

    @activity.defn(name="linkedin.withdraw_invitation")
    async def withdraw_invitation(self, input: WithdrawInvitationInput) -> WithdrawInvitationResult:
        linkedin = self._providers.linkedin
        return await self._once(
            "withdraw_invitation",
            input.idempotency_key,
            input,
            WithdrawInvitationResult,
            lambda: linkedin.withdraw_invitation(input),
        )
