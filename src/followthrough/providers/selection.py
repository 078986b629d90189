"""Which provider is real and which is sandboxed, and which sandbox faults to inject.

Pure parsing, imported by :mod:`followthrough.config` to validate ``FOLLOWTHROUGH_PROVIDERS``
and ``FOLLOWTHROUGH_SANDBOX_FAULTS`` before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["real", "sandbox"]

#: Provider name -> the capability it serves.
PROVIDERS: dict[str, str] = {
    "whatsapp": "messaging",
    "calcom": "calendar",
    "stripe": "payments",
    "hubspot": "crm",
    "meta": "conversions",
    "openai": "llm",
    "unipile": "linkedin",
    "discord": "bots",
    "telegram": "bots",
    "slack": "bots",
    "email": "email",
}

_BOT_OPERATIONS = ("register", "set_webhook", "health", "unregister")

#: Operations a sandbox can be told to fail, per provider (``provider.operation``). Beyond
#: :data:`PROVIDERS`: the WhatsApp bot platform's operations (under ``whatsapp``, whose mode it
#: follows) and the notification channel ``webhook``, whose real/sandbox choice is
#: WEBHOOK_DELIVERY_PROVIDER.
SANDBOX_OPERATIONS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("send", *_BOT_OPERATIONS),
    "calcom": ("create_booking", "cancel_booking", "slots"),
    "stripe": ("checkout", "get_checkout"),
    "hubspot": ("upsert_contact",),
    "meta": ("send_event",),
    "openai": ("complete",),
    "unipile": (
        "visit_profile",
        "like_posts",
        "send_invitation",
        "send_message",
        "invitation_status",
        "withdraw_invitation",
    ),
    "discord": _BOT_OPERATIONS,
    "telegram": _BOT_OPERATIONS,
    "slack": _BOT_OPERATIONS,
    "email": ("send",),
    "webhook": ("deliver",),
}


def parse_provider_modes(value: str) -> dict[str, Mode]:
    """``"whatsapp=sandbox,stripe=real"`` -> ``{"whatsapp": "sandbox", "stripe": "real"}``.

    A capability name (``payments=real``) stands for every provider serving it.
    """
    modes: dict[str, Mode] = {}
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, mode = (part.strip().lower() for part in item.partition("="))
        if not sep or mode not in ("real", "sandbox"):
            raise ValueError(f"{item!r}: expected provider=real or provider=sandbox")
        names = [p for p, cap in PROVIDERS.items() if cap == name] if name not in PROVIDERS else [name]
        if not names:
            raise ValueError(f"{item!r}: unknown provider {name!r} (known: {', '.join(PROVIDERS)})")
        for provider in names:
            modes[provider] = mode  # type: ignore[assignment]
    return modes


@dataclass(frozen=True)
class Fault:
    """Fail ``provider.operation`` with ``probability``: an HTTP ``status`` or a timeout."""

    provider: str
    operation: str  # "*" = every operation of the provider
    probability: float
    status: int | None  # None = a timeout

    def matches(self, provider: str, operation: str) -> bool:
        return self.provider == provider and self.operation in ("*", operation)


def parse_faults(value: str) -> list[Fault]:
    """``"whatsapp.send=0.3:503,stripe.checkout=0.1:timeout"`` -> faults, validated."""
    faults: list[Fault] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        target, sep, spec = item.partition("=")
        provider, dot, operation = target.strip().lower().partition(".")
        if not sep or not dot:
            raise ValueError(f"{item!r}: expected provider.operation=probability:status|timeout")
        if provider not in SANDBOX_OPERATIONS:
            raise ValueError(f"{item!r}: unknown provider {provider!r} (known: {', '.join(SANDBOX_OPERATIONS)})")
        if operation != "*" and operation not in SANDBOX_OPERATIONS[provider]:
            known = ", ".join(SANDBOX_OPERATIONS[provider])
            raise ValueError(f"{item!r}: unknown operation {operation!r} of {provider} (known: {known}, *)")
        prob_text, colon, kind = spec.strip().partition(":")
        try:
            probability = float(prob_text)
        except ValueError:
            raise ValueError(f"{item!r}: probability {prob_text!r} is not a number") from None
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{item!r}: probability must be within 0..1")
        kind = kind.strip().lower()
        status: int | None
        if not colon or not kind:
            raise ValueError(f"{item!r}: give the fault after the probability, e.g. 0.3:503 or 0.3:timeout")
        if kind == "timeout":
            status = None
        elif kind.isdigit() and 400 <= int(kind) <= 599:
            status = int(kind)
        else:
            raise ValueError(f"{item!r}: fault {kind!r} must be an HTTP status 400..599 or 'timeout'")
        faults.append(Fault(provider, operation, probability, status))
    return faults
