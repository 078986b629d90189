"""Sender accounts' pure rules: Unipile's statuses mapped to ours, and the bodies that connect
an account and set its limits (validated field by field, so a 422 names the field).

Unipile reports an account's connection as ``OK``, ``CONNECTING``, ``CREDENTIALS``,
``PERMISSIONS``, ``ERROR`` or ``STOPPED`` (``sources[].status`` of ``GET /accounts/{id}``, and
``message`` of the account status webhook, which adds lifecycle events); :data:`UNIPILE_STATUS`
maps them:

======================================================  =======================
Unipile                                                 sender account status
======================================================  =======================
``OK``, ``CONNECTING``, ``RECONNECTED``,                ``connected``
``CREATION_SUCCESS``, ``SYNC_SUCCESS``
``CREDENTIALS``, ``PERMISSIONS``                        ``credentials_invalid``
``ERROR``, ``STOPPED``, ``DELETION``                    ``disconnected``
======================================================  =======================

``suspended`` is what LinkedIn restricting the account looks like: Unipile answers the check
with a ``restricted``/``suspended`` error (:class:`~followthrough.errors.AccountSuspendedError`).
Any other status leaves the account as it is. Every status but ``connected`` pauses the
account's running campaigns (:data:`DISCONNECTED`).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from followthrough.bounds import INT32_MAX
from followthrough.processes.campaigns.sending_window import (
    MAX_SPACING,
    SenderLimits,
    SendingWindow,
    limits_from_account,
    zone,
)
from followthrough.store.models import SenderAccount

CONNECTED = "connected"
DISCONNECTED = frozenset({"credentials_invalid", "suspended", "disconnected"})

UNIPILE_STATUS: dict[str, str] = {
    "OK": CONNECTED,
    "CONNECTING": CONNECTED,
    "RECONNECTED": CONNECTED,
    "CREATION_SUCCESS": CONNECTED,
    "SYNC_SUCCESS": CONNECTED,
    "CREDENTIALS": "credentials_invalid",
    "PERMISSIONS": "credentials_invalid",
    "ERROR": "disconnected",
    "STOPPED": "disconnected",
    "DELETION": "disconnected",
}


def status_from_unipile(message: str) -> str | None:
    """Our status for Unipile's, or None for one that says nothing about the connection."""
    return UNIPILE_STATUS.get(message.strip().upper())


def pause_reason(sender_account_id: str, status: str) -> str:
    return f"sender account {sender_account_id}: {status}"


_HOURS = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_working_hours(text: str) -> tuple[time, time]:
    """``09:00-18:00`` as (start, end); ``ValueError`` unless ``HH:MM-HH:MM`` with end after start
    (``00:00`` as the end is midnight)."""
    match = _HOURS.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM (like 09:00-18:00)")
    start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    _checked(SendingWindow, start=start, end=end)  # end after start, or 00:00
    return start, end


def _checked(model: type[BaseModel], **values: Any) -> Any:
    """``model(**values)``, its first complaint as a plain ``ValueError`` (a nested pydantic error
    would carry inputs that are not JSON, and the caller's field is the one to name)."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")) from None


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class LimitsPatch(_Camel):
    """What ``PATCH /api/sender-accounts/{id}`` may change; fields left out stay as they are."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64, description="IANA, e.g. Europe/Paris")
    working_hours: str | None = Field(default=None, max_length=11, description="HH:MM-HH:MM, local time")
    working_days: list[int] | None = Field(default=None, max_length=7, description="ISO weekdays, 1 = Monday")
    daily_limits: dict[str, Annotated[int, Field(ge=1, le=INT32_MAX)] | None] | None = Field(
        default=None, max_length=20, description="caps per action type per local day; null: no cap"
    )
    weekly_invitations: int | None = Field(default=None, ge=0, le=INT32_MAX, description="0: no weekly cap")
    min_spacing_seconds: int | None = Field(default=None, ge=0, le=int(MAX_SPACING))
    max_spacing_seconds: int | None = Field(default=None, ge=0, le=int(MAX_SPACING))

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zone(value)
        except Exception:  # ZoneInfoNotFoundError, ValueError (a path), IsADirectoryError …
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            start, end = parse_working_hours(value)
            return f"{start:%H:%M}-{end:%H:%M}"
        return None

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _checked(SendingWindow, days=value).days

    @field_validator("daily_limits")
    @classmethod
    def _caps(cls, value: dict[str, int | None] | None) -> dict[str, int | None] | None:
        return None if value is None else _checked(SenderLimits, daily_caps=value).daily_caps

    def columns(self) -> dict[str, Any]:
        """The ``sender_accounts`` columns this patch sets."""
        values: dict[str, Any] = {}
        if self.display_name is not None:
            values["display_name"] = self.display_name
        if self.timezone is not None:
            values["timezone"] = self.timezone
        if self.working_hours is not None:
            start, end = self.working_hours.split("-")
            values["working_hours"] = {"start": start, "end": end}
        if self.working_days is not None:
            values["working_days"] = self.working_days
        if self.daily_limits is not None:
            values["daily_limits"] = self.daily_limits
        if self.weekly_invitations is not None:
            values["weekly_invitation_limit"] = self.weekly_invitations
        if self.min_spacing_seconds is not None:
            values["min_action_spacing_seconds"] = self.min_spacing_seconds
        if self.max_spacing_seconds is not None:
            values["max_action_spacing_seconds"] = self.max_spacing_seconds
        return values


class ConnectSender(_Camel):
    """``POST /api/sender-accounts``: a LinkedIn account already connected to Unipile."""

    account_id: str = Field(min_length=1, max_length=128, description="Unipile's account id")
    organization_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="the owner; the operator's key must name it"
    )
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    limits: LimitsPatch | None = None


def account_limits(account: SenderAccount, patch: dict[str, Any] | None = None) -> SenderLimits:
    """The account's limits (with ``patch``'s columns over its own): a ``ValueError`` (pydantic's)
    when they do not hold together, such as a maximum spacing below the minimum."""
    columns: dict[str, Any] = {
        "timezone": account.timezone,
        "working_hours": account.working_hours,
        "working_days": account.working_days,
        "daily_limits": account.daily_limits,
        "weekly_invitation_limit": account.weekly_invitation_limit,
        "min_action_spacing_seconds": account.min_action_spacing_seconds,
        "max_action_spacing_seconds": account.max_action_spacing_seconds,
    }
    columns.update({k: v for k, v in (patch or {}).items() if k in columns})
    return limits_from_account(**columns)


def view(account: SenderAccount) -> dict[str, Any]:
    """The account as the API and the CLI show it."""
    limits = account_limits(account)
    window = limits.window
    return {
        "id": account.id,
        "organizationId": account.organization_id,
        "provider": account.provider,
        "providerAccountId": account.provider_account_id,
        "displayName": account.display_name,
        "status": account.status,
        "limits": {
            "timezone": window.timezone,
            "workingHours": f"{window.start:%H:%M}-{window.end:%H:%M}",
            "workingDays": window.days,
            "dailyLimits": dict(account.daily_limits or {}),
            "weeklyInvitations": limits.weekly_invitations,
            "minSpacingSeconds": limits.min_spacing_seconds,
            "maxSpacingSeconds": limits.max_spacing_seconds,
        },
        "createdAt": account.created_at.isoformat() if account.created_at else None,
        "updatedAt": account.updated_at.isoformat() if account.updated_at else None,
    }
