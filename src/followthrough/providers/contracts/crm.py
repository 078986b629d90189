"""Inputs and results of the CRM capability (HubSpot CRM v3 contacts)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

#: HubSpot's default lifecycle stages (internal names).
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


class UpsertContactInput(BaseModel):
    """Find the contact by email (else phone), update it or create it."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    lifecycle_stage: str | None = Field(default=None, description="one of LIFECYCLE_STAGES")
    properties: dict[str, str] = Field(default_factory=dict, description="other HubSpot properties")
    idempotency_key: str = Field(min_length=1, max_length=255)

    @model_validator(mode="after")
    def _identified(self) -> UpsertContactInput:
        if not self.email and not self.phone:
            raise ValueError("give an email or a phone to find the contact by")
        if self.lifecycle_stage is not None and self.lifecycle_stage not in LIFECYCLE_STAGES:
            raise ValueError(f"lifecycle_stage must be one of {', '.join(LIFECYCLE_STAGES)}")
        return self

    def hubspot_properties(self) -> dict[str, str]:
        props = dict(self.properties)
        for name, value in (
            ("email", self.email),
            ("phone", self.phone),
            ("firstname", self.first_name),
            ("lastname", self.last_name),
            ("company", self.company),
            ("lifecyclestage", self.lifecycle_stage),
        ):
            if value:
                props[name] = value
        return props


class UpsertContactResult(BaseModel):
    contact_id: str
    created: bool
