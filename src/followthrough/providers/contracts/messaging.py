"""Inputs and results of the messaging capability (WhatsApp Cloud API): ``messaging.send``,
and WhatsApp's customer-service window (free-form text only within 24 hours of the lead's last
message; after that, only an approved template)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from followthrough.leads.models import E164_PATTERN

#: How long after the lead's last message WhatsApp accepts free-form text from the business.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


def within_customer_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether free-form text may go to a lead who last wrote at ``last_inbound_at`` (None:
    never), at ``now``."""
    return last_inbound_at is not None and now - last_inbound_at < CUSTOMER_SERVICE_WINDOW


class TemplateMessage(BaseModel):
    """An approved WhatsApp template: its name, language code and body parameters in order."""

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(default="es", min_length=2, max_length=15, description="e.g. es, en, es_MX")
    parameters: list[str] = Field(default_factory=list, max_length=20)


class CatalogMessage(BaseModel):
    """Which message of the catalog (:mod:`followthrough.providers.contracts.templates`) a text is, in which
    language, with the values it was rendered from."""

    message: str = Field(min_length=1, max_length=200, description='e.g. "payment/link"')
    language: str = Field(min_length=2, max_length=15)
    fields: dict[str, str] = Field(default_factory=dict)
    lead_id: str | None = Field(
        default=None, max_length=200, description="the lead it goes to: their last message opens the 24-hour window"
    )


class SendMessageInput(BaseModel):
    """Send ``text`` or ``template`` (exactly one) to ``to``, once per ``idempotency_key``.

    A text that carries ``catalog`` (with the lead's id) goes out as text while the lead's
    24-hour customer-service window is open, and as the approved template that
    ``WHATSAPP_TEMPLATES`` maps its message to once it is closed (``messaging.send`` reads when
    the lead last wrote and fills ``last_inbound_at``; a provider that enforces the window, as
    the sandbox does, reads it there)."""

    to: str = Field(pattern=E164_PATTERN, description="E.164, e.g. +5215512345678")
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateMessage | None = None
    catalog: CatalogMessage | None = None
    idempotency_key: str = Field(min_length=1, max_length=255)
    last_inbound_at: AwareDatetime | None = Field(
        default=None, description="when the lead last wrote, as messaging.send read it from the store"
    )

    @model_validator(mode="after")
    def _one_body(self) -> SendMessageInput:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text or template")
        return self


class SendMessageResult(BaseModel):
    message_id: str
    to: str
