"""Inputs and results of the LinkedIn capability (Unipile), and the identifier rule."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

_PROFILE_URL = re.compile(r"linkedin\.com/in/([^/?#]+)", re.IGNORECASE)


def linkedin_identifier(value: str) -> str:
    """A profile URL (``https://www.linkedin.com/in/jane-doe/``) becomes its public identifier
    (``jane-doe``); a public identifier or provider id is returned as it is."""
    value = value.strip()
    match = _PROFILE_URL.search(value)
    return match.group(1) if match else value.strip("/")


class _Target(BaseModel):
    account_id: str = Field(min_length=1, description="the Unipile account (our sender account) acting")
    identifier: str = Field(min_length=1, description="profile URL, public identifier or provider id")

    @field_validator("identifier")
    @classmethod
    def _identifier(cls, value: str) -> str:
        ident = linkedin_identifier(value)
        if not ident:
            raise ValueError("is not a LinkedIn profile URL or identifier")
        return ident


class VisitProfileInput(_Target):
    idempotency_key: str = Field(min_length=1, max_length=255)


class Profile(BaseModel):
    provider_id: str
    public_identifier: str | None = None
    name: str | None = None
    connected: bool = False


class LikePostsInput(_Target):
    number_of_posts: int = Field(default=1, ge=1, le=10)
    recent_post_days: int = Field(default=7, ge=1, le=365)
    idempotency_key: str = Field(min_length=1, max_length=255)


class LikePostsResult(BaseModel):
    liked: list[str] = Field(description="ids of the posts liked")


class SendInvitationInput(_Target):
    note: str | None = Field(default=None, max_length=300, description="LinkedIn caps notes at 300 characters")
    idempotency_key: str = Field(min_length=1, max_length=255)


class InvitationResult(BaseModel):
    invitation_id: str
    provider_id: str


class SendLinkedInMessageInput(_Target):
    text: str = Field(min_length=1, max_length=8000)
    idempotency_key: str = Field(min_length=1, max_length=255)


class LinkedInMessageResult(BaseModel):
    chat_id: str
    message_id: str | None = None


class InvitationStatusInput(_Target):
    invitation_id: str = Field(min_length=1)


InvitationStatus = Literal["pending", "accepted", "withdrawn"]


class InvitationStatusResult(BaseModel):
    invitation_id: str
    status: InvitationStatus = Field(description="withdrawn: no longer pending and not connected")


class WithdrawInvitationInput(BaseModel):
    account_id: str = Field(min_length=1)
    invitation_id: str = Field(min_length=1)
    idempotency_key: str = Field(min_length=1, max_length=255)


class WithdrawInvitationResult(BaseModel):
    invitation_id: str
    withdrawn: bool


class UnipileAccount(BaseModel):
    """An account connected to Unipile, as ``GET /api/v1/accounts/{id}`` describes it."""

    account_id: str
    #: ``LINKEDIN``, ``WHATSAPP``, ``GOOGLE_OAUTH`` …
    type: str
    name: str | None = None
    #: The worst status of its sources: ``OK``, ``CONNECTING``, ``CREDENTIALS``, ``PERMISSIONS``,
    #: ``ERROR``, ``STOPPED`` (Unipile may add more; callers map the ones they know).
    status: str
