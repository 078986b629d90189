"""User onboarding (Nexpo, Partner Platform): inputs, results and the pure rules.

The workflow id and the default user id derive from a hash of the normalised email, never the
email itself: ids and search attributes are not encrypted by the payload codec.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from followthrough.domain.leads import E164_PATTERN

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(E164_PATTERN)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_hash(email: str) -> str:
    """SHA-256 of the normalised email, hex: the business identity without the PII."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def onboarding_workflow_id(email: str) -> str:
    """``onboarding-{hash}``: a second onboarding of the same email finds the first."""
    return f"onboarding-{email_hash(email)[:32]}"


def default_user_id(email: str) -> str:
    return f"usr_{email_hash(email)[:24]}"


class OnboardingInput(BaseModel):
    """Who to onboard. ``userId`` (the Partner Platform's spelling) is accepted too."""

    model_config = ConfigDict(populate_by_name=True)

    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(
        default=None, min_length=1, max_length=64, validation_alias=AliasChoices("user_id", "userId")
    )
    #: E.164 phone for the WhatsApp welcome; without one no welcome message is sent.
    phone: str | None = None
    language: Literal["es", "en"] = "en"
    #: Store names to create the user in, in order; empty = every store in USER_STORES.
    stores: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = normalise_email(value)
        if not _EMAIL.match(value):
            raise ValueError("is not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            raise ValueError("must be E.164, e.g. +34600111222")
        return value

    @property
    def resolved_user_id(self) -> str:
        return self.user_id or default_user_id(self.email)

    @property
    def workflow_id(self) -> str:
        return onboarding_workflow_id(self.email)


class PlanStoresInput(BaseModel):
    """The stores an onboarding asks for (empty = all); the activity checks they exist."""

    requested: list[str] = Field(default_factory=list)


class StorePlan(BaseModel):
    stores: list[str]


class CreateStoreUserInput(BaseModel):
    store: str
    user_id: str
    email: str
    name: str | None = None
    onboarding_id: str


class StoreUserResult(BaseModel):
    store: str
    #: True when the row is this onboarding's (inserted now or by an earlier attempt of it);
    #: False when the user was already there from elsewhere (then it is never compensated).
    created: bool


class DeleteStoreUserInput(BaseModel):
    store: str
    user_id: str
    onboarding_id: str


class OnboardingResult(BaseModel):
    success: bool
    user_id: str
    #: Stores the user now exists in because of this onboarding, in creation order.
    created_in: list[str] = Field(default_factory=list)
    #: Stores that already had the user (left as they were).
    already_present_in: list[str] = Field(default_factory=list)
    welcome_message_id: str | None = None
    failed_store: str | None = None
    error: str | None = None
    error_type: str | None = None
    #: Stores the user was deleted from again after a permanent failure, in the order undone.
    compensated: list[str] = Field(default_factory=list)


_WELCOME = {
    "en": "Welcome{name}! Your account is ready.",
    "es": "¡Bienvenido{name}! Tu cuenta está lista.",
}


def welcome_text(name: str | None, language: str) -> str:
    first = f", {name.split()[0]}" if name and name.strip() else ""
    return _WELCOME.get(language, _WELCOME["en"]).format(name=first)


def welcome_idempotency_key(email: str) -> str:
    return f"onboarding:{email_hash(email)[:32]}:welcome"
