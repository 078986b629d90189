"""Inputs, results and hashing rules of the conversions capability (Meta Conversions API).

Meta wants customer information normalised then SHA-256 hashed (lower-case hex): emails
trimmed and lower-cased; phones as digits only, country code included, no ``+`` or leading
zeros. The raw values stay in the (encrypted) workflow payload; only hashes leave.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

EventName = Literal["Lead", "Schedule", "Purchase"]

#: Currencies without minor units (Stripe's list), whose amounts are not divided by 100.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits.lstrip("0")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def major_units(amount_minor: int, currency: str) -> float:
    return float(amount_minor) if currency.lower() in ZERO_DECIMAL else amount_minor / 100


class SendEventInput(BaseModel):
    event_name: EventName
    event_time: AwareDatetime
    email: str | None = None
    phone: str | None = None
    external_id: str | None = Field(default=None, description="our lead id; hashed too")
    value: int | None = Field(default=None, ge=0, description="minor units (Purchase)")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    action_source: Literal["system_generated", "chat", "website", "business_messaging", "other"] = "system_generated"
    idempotency_key: str = Field(min_length=1, max_length=255, description="also Meta's event_id (dedupe)")

    @model_validator(mode="after")
    def _complete(self) -> SendEventInput:
        if not (self.email or self.phone or self.external_id):
            raise ValueError("give at least one of email, phone, external_id to match the event to a person")
        if self.event_name == "Purchase" and (self.value is None or self.currency is None):
            raise ValueError("a Purchase needs value and currency")
        return self

    def user_data(self) -> dict[str, list[str]]:
        """The ``user_data`` object Meta expects: hashed, normalised identifiers."""
        data: dict[str, list[str]] = {}
        if self.email:
            data["em"] = [sha256_hex(normalise_email(self.email))]
        if self.phone:
            data["ph"] = [sha256_hex(normalise_phone(self.phone))]
        if self.external_id:
            data["external_id"] = [sha256_hex(self.external_id.strip())]
        return data


class SendEventResult(BaseModel):
    events_received: int
    fbtrace_id: str | None = None
