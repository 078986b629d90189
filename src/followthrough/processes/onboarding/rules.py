"""User onboarding (Nexpo, Partner Platform): inputs, results and the pure rules.

The workflow id is a keyed hash (HMAC-SHA256) of the normalised email, never the email itself:
ids and search attributes are not encrypted by the payload codec, and a bare SHA-256 could be
reversed by hashing guessed emails. The key lives outside Temporal (the API derives it from
``FOLLOWTHROUGH_SECRETS_KEY``), so the workflow never needs it: the default user id and the
welcome message's idempotency key derive from the workflow id it runs under.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from followthrough.bounds import MAX_STORES, Id
from followthrough.leads.models import E164_PATTERN

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(E164_PATTERN)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_digest(email: str, key: bytes) -> str:
    """HMAC-SHA256 of the normalised email under ``key``, hex: the business identity without the
    PII, and without a way back from it for whoever lacks the key."""
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def onboarding_workflow_id(email: str, key: bytes) -> str:
    """``onboarding-{digest}``: a second onboarding of the same email finds the first."""
    return f"onboarding-{email_digest(email, key)[:32]}"


def onboarding_identity(workflow_id: str) -> str:
    """What the ids an onboarding derives are made of: its workflow id without the prefix."""
    return workflow_id.removeprefix("onboarding-")


def default_user_id(workflow_id: str) -> str:
    """The user id when the input names none, from the onboarding's workflow id."""
    return f"usr_{onboarding_identity(workflow_id)[:24]}"


class OnboardingInput(BaseModel):
    """Who to onboard. ``userId`` (the Partner Platform's spelling) is accepted too."""

    model_config = ConfigDict(populate_by_name=True)

    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(
        default=None, min_length=1, max_length=64, validation_alias=AliasChoices("user_id", "userId")
    )
    #: E.164 phone for the WhatsApp welcome; without one no welcome message is sent.
    phone: str | None = Field(default=None, max_length=16)
    language: Literal["es", "en"] = "en"
    #: Store names to create the user in, in order; empty = every store in USER_STORES.
    stores: list[Id] = Field(default_factory=list, max_length=MAX_STORES)

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

    def user_id_under(self, workflow_id: str) -> str:
        """The user id this onboarding writes when it runs as ``workflow_id``."""
        return self.user_id or default_user_id(workflow_id)


class PlanStoresInput(BaseModel):
    """The stores an onboarding asks for (empty = all); the activity checks they exist."""

    requested: list[Id] = Field(default_factory=list, max_length=MAX_STORES)


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
    #: ``"store: Type: message"`` of each delete that failed for good: left for a person to finish.
    compensation_errors: list[str] = Field(default_factory=list)


_WELCOME = {
    "en": "Welcome{name}! Your account is ready.",
    "es": "¡Bienvenido{name}! Tu cuenta está lista.",
}


def welcome_text(name: str | None, language: str) -> str:
    first = f", {name.split()[0]}" if name and name.strip() else ""
    return _WELCOME.get(language, _WELCOME["en"]).format(name=first)


def welcome_idempotency_key(workflow_id: str) -> str:
    """One welcome per onboarding id, however often it runs."""
    return f"onboarding:{onboarding_identity(workflow_id)}:welcome"
