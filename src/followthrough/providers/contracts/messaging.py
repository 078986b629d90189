"""Inputs and results of the messaging capability (WhatsApp Cloud API): ``messaging.send``."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from followthrough.leads.models import E164_PATTERN


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


class SendMessageInput(BaseModel):
    """Send ``text`` or ``template`` (exactly one) to ``to``, once per ``idempotency_key``.

    A text that carries ``catalog`` goes out as the approved template that ``WHATSAPP_TEMPLATES``
    maps its message to, if any (WhatsApp refuses free text outside the 24-hour window)."""

    to: str = Field(pattern=E164_PATTERN, description="E.164, e.g. +5215512345678")
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateMessage | None = None
    catalog: CatalogMessage | None = None
    idempotency_key: str = Field(min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one_body(self) -> SendMessageInput:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text or template")
        return self


class SendMessageResult(BaseModel):
    message_id: str
    to: str
