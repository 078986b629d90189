"""Message templates of the sales assistant, per message and language (Spanish and English).

Rendering is pure (``str.format`` over plain values), so workflows render in-process and replay
renders the same text. Demo times are written in UTC with the zone spelled out: the lead's time
zone is not known here, and an unlabelled time would be worse than a UTC one.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from followthrough.leads.models import Language, Lead
from followthrough.providers.contracts.messaging import CatalogMessage

#: (message, language) → template. Placeholders: name, demo_date, demo_time, amount, url, reference.
TEMPLATES: dict[str, dict[Language, str]] = {
    "pre_demo_24h/24h_before": {
        "es": "Hola {name}, te recordamos tu demo mañana, {demo_date} a las {demo_time} (UTC). ¡Te esperamos!",
        "en": "Hi {name}, a reminder of your demo tomorrow, {demo_date} at {demo_time} (UTC). See you there!",
    },
    "pre_demo_reminder/30min_before": {
        "es": "Hola {name}, tu demo empieza en 30 minutos ({demo_time} UTC).",
        "en": "Hi {name}, your demo starts in 30 minutes ({demo_time} UTC).",
    },
    "post_demo/2min_after": {
        "es": "Gracias por tu tiempo en la demo, {name}. ¿Qué te pareció? Si tienes dudas, responde aquí.",
        "en": "Thanks for your time in the demo, {name}. What did you think? Reply here with any questions.",
    },
    "said_later/12h_after": {
        "es": "Hola {name}, ¿pudiste revisarlo? Aquí sigo si quieres agendar una demo.",
        "en": "Hi {name}, did you get a chance to look? I'm here if you'd like to book a demo.",
    },
    "cold_lead_reengagement/24h": {
        "es": "Hola {name}, ¿sigues interesado? Con gusto te muestro cómo funciona en una demo corta.",
        "en": "Hi {name}, still interested? I'd be glad to show you how it works in a short demo.",
    },
    "cold_lead_reengagement/60h": {
        "es": "{name}, muchos equipos como el tuyo ya lo usan para no perder clientes. ¿Agendamos 15 minutos?",
        "en": "{name}, teams like yours use it so no customer falls through the cracks. Shall we book 15 minutes?",
    },
    "cold_lead_reengagement/168h": {
        "es": "Hola {name}, es mi último mensaje: si más adelante te interesa, escríbeme aquí. ¡Éxito!",
        "en": "Hi {name}, this is my last message: if you're interested later, just write here. All the best!",
    },
    "payment/link": {
        "es": "Hola {name}, aquí tienes tu enlace de pago por {amount} ({reference}): {url}",
        "en": "Hi {name}, here is your payment link for {amount} ({reference}): {url}",
    },
    "payment/reminder": {
        "es": "Hola {name}, tu pago de {amount} sigue pendiente. Puedes completarlo aquí: {url}",
        "en": "Hi {name}, your payment of {amount} is still pending. You can complete it here: {url}",
    },
    "payment/receipt": {
        "es": "¡Gracias, {name}! Recibimos tu pago de {amount} ({reference}). Bienvenido.",
        "en": "Thank you, {name}! We received your payment of {amount} ({reference}). Welcome aboard.",
    },
}

_FALLBACK_NAME: dict[Language, str] = {"es": "", "en": ""}

#: Currencies without a minor unit (amounts are whole units already).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
)


def format_amount(amount: int, currency: str) -> str:
    """Integer minor units as a readable amount: ``150000, "mxn"`` → ``"1,500.00 MXN"``."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:,} {code}"
    return f"{amount // 100:,}.{amount % 100:02d} {code}"


#: The values a message may use, and so the body parameters a WhatsApp template may map to.
PLACEHOLDERS: tuple[str, ...] = ("name", "demo_date", "demo_time", "amount", "url", "reference")


def message_fields(lead: Lead, *, demo_start: datetime | None = None, **values: str) -> dict[str, str]:
    """The placeholder values of one message (see :data:`PLACEHOLDERS`)."""
    fields: dict[str, str] = {"name": lead.first_name or _FALLBACK_NAME[lead.language], **values}
    if demo_start is not None:
        fields["demo_date"] = f"{demo_start:%Y-%m-%d}"
        fields["demo_time"] = f"{demo_start:%H:%M}"
    return fields


def render(message: str, lead: Lead, *, demo_start: datetime | None = None, **values: str) -> str:
    """The text of ``message`` (``"<type>/<step>"`` or ``"payment/<kind>"``) in the lead's language."""
    try:
        by_language = TEMPLATES[message]
    except KeyError:
        raise KeyError(f"no template {message!r}") from None
    template = by_language.get(lead.language) or by_language["en"]
    text = template.format_map(_Missing(message_fields(lead, demo_start=demo_start, **values)))
    return " ".join(text.replace(" ,", ",").split())


def catalog_message(message: str, lead: Lead, *, demo_start: datetime | None = None, **values: str) -> CatalogMessage:
    """Which catalog message a text is, with its values: a deployment that maps it to an approved
    WhatsApp template (``WHATSAPP_TEMPLATES``) sends that template once the lead's 24-hour
    customer-service window has closed."""
    return CatalogMessage(
        message=message,
        language=lead.language,
        fields=message_fields(lead, demo_start=demo_start, **values),
        lead_id=lead.id,
    )


class _Missing(dict[str, str]):
    """Leaves an unknown placeholder visible instead of raising mid-workflow."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def followup_message(type: str, step: str, lead: Lead, demo_start: datetime | None) -> str:
    return render(f"{type}/{step}", lead, demo_start=demo_start)


class WhatsAppTemplate(BaseModel):
    """One catalog message mapped to an approved WhatsApp template (``WHATSAPP_TEMPLATES``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    parameters: list[str] = Field(
        default_factory=list, max_length=20, description="placeholders, in the template's {{1}}, {{2}}… order"
    )
    languages: dict[str, str] = Field(
        default_factory=dict, description="lead language → the template's language code (default: the same)"
    )

    @field_validator("parameters")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown placeholder {unknown[0]!r} (known: {', '.join(PLACEHOLDERS)})")
        return value


def parse_whatsapp_templates(raw: str) -> dict[str, WhatsAppTemplate]:
    """``WHATSAPP_TEMPLATES``: a JSON object, catalog message → template. ValueError names the
    entry at fault, e.g. ``{"payment/link": {"name": "payment_link", "parameters": ["name",
    "amount", "url"], "languages": {"es": "es_MX"}}}``."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object: {"<message>": {"name": ..., "parameters": [...]}}')
    templates: dict[str, WhatsAppTemplate] = {}
    for message, entry in data.items():
        if message not in TEMPLATES:
            raise ValueError(f"{message!r} is not a catalog message (one of: {', '.join(sorted(TEMPLATES))})")
        try:
            templates[message] = WhatsAppTemplate.model_validate(entry)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            reason = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{message}: {where + ': ' if where else ''}{reason}") from None
    return templates
