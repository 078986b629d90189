"""Build every capability's client from the settings: real when the provider's credentials are
set, sandbox otherwise, ``FOLLOWTHROUGH_PROVIDERS`` overriding either way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from followthrough.config import ConfigError, Settings
from followthrough.providers.bots import BotsProvider, build_bot_platforms
from followthrough.providers.calendar import CalComClient, CalendarProvider, SandboxCalendar
from followthrough.providers.conversions import ConversionsProvider, MetaConversionsClient, SandboxConversions
from followthrough.providers.crm import CRMProvider, HubSpotClient, SandboxCRM
from followthrough.providers.linkedin import LinkedInProvider, SandboxLinkedIn, UnipileClient
from followthrough.providers.llm import LLMProvider, OpenAIChat, SandboxLLM
from followthrough.providers.messaging import MessagingProvider, SandboxMessaging, WhatsAppClient
from followthrough.providers.payments import PaymentsProvider, SandboxPayments, StripePayments
from followthrough.providers.sandbox import Sandbox
from followthrough.providers.selection import PROVIDERS, Mode, parse_faults, parse_provider_modes
from followthrough.store.outbox import Outbox

HealthCheck = Callable[[], Awaitable[str | None]]


class MissingCredentials(ConfigError):
    """A provider was forced real (FOLLOWTHROUGH_PROVIDERS) without its credentials."""


@dataclass
class Providers:
    """One client per capability (``services.providers.messaging`` …), plus what they share."""

    messaging: MessagingProvider
    calendar: CalendarProvider
    payments: PaymentsProvider
    crm: CRMProvider
    conversions: ConversionsProvider
    llm: LLMProvider
    linkedin: LinkedInProvider
    bots: BotsProvider
    outbox: Outbox
    sandbox: Sandbox
    modes: dict[str, Mode] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list, repr=False)

    def health_checks(self) -> dict[str, HealthCheck]:
        """``provider.<name>`` for each real provider with a cheap authenticated read."""
        checks: dict[str, HealthCheck] = {}
        for client in (
            self.messaging,
            self.calendar,
            self.payments,
            self.crm,
            self.conversions,
            self.llm,
            self.linkedin,
        ):
            health = getattr(client, "health", None)
            if health is not None and self.modes.get(client.name) == "real":
                checks[f"provider.{client.name}"] = health
        return checks

    async def aclose(self) -> None:
        for close in self._closers:
            await close()
        self._closers.clear()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def provider_modes(settings: Settings) -> dict[str, Mode]:
    """Each provider's mode: real when its credentials are set, then the override."""
    configured = {
        "whatsapp": bool(settings.whatsapp_token and settings.whatsapp_phone_number_id),
        "calcom": bool(settings.calcom_api_key),
        "stripe": bool(settings.stripe_api_key),
        "hubspot": bool(settings.hubspot_token),
        "meta": bool(settings.meta_pixel_id and settings.meta_access_token),
        "openai": bool(settings.openai_api_key or settings.openai_base_url),
        "unipile": bool(settings.unipile_dsn and settings.unipile_api_key),
        "discord": bool(settings.discord_bot_token),
        "telegram": bool(settings.telegram_bot_token),
        "slack": bool(settings.slack_bot_token),  # bot-platforms engineer
        "email": bool(settings.email_api_key),  # built by activities/notifications.py
    }
    modes: dict[str, Mode] = {name: "real" if configured[name] else "sandbox" for name in PROVIDERS}
    modes.update(parse_provider_modes(settings.followthrough_providers))
    return modes


def _require(provider: str, **values: Any) -> None:
    missing = [name.upper() for name, value in values.items() if not value]
    if missing:
        raise MissingCredentials(f"configuration error: {provider} is set to real but {', '.join(missing)} is not set")


def build_providers(
    settings: Settings,
    outbox: Outbox,
    *,
    http: httpx.AsyncClient | None = None,
    openai_http_client: Any | None = None,
) -> Providers:
    """The clients for this process. ``http`` (one pooled client for the REST providers) and
    ``openai_http_client`` may be injected; Stripe's HTTP goes to ``STRIPE_BASE_URL``."""
    modes = provider_modes(settings)
    sandbox = Sandbox(outbox, parse_faults(settings.followthrough_sandbox_faults), settings.followthrough_sandbox_seed)
    closers: list[Callable[[], Awaitable[Any]]] = []
    timeout = settings.followthrough_provider_timeout_seconds
    if http is None and any(mode == "real" for mode in modes.values()):
        http = httpx.AsyncClient(timeout=timeout)
        closers.append(http.aclose)
    s = settings

    messaging: MessagingProvider = SandboxMessaging(sandbox)
    if modes["whatsapp"] == "real":
        _require("whatsapp", whatsapp_token=s.whatsapp_token, whatsapp_phone_number_id=s.whatsapp_phone_number_id)
        assert http is not None and s.whatsapp_phone_number_id is not None
        messaging = WhatsAppClient(
            http,
            token=_secret(s.whatsapp_token) or "",
            phone_number_id=s.whatsapp_phone_number_id,
            api_version=s.whatsapp_api_version,
            base_url=s.whatsapp_base_url,
        )

    calendar: CalendarProvider = SandboxCalendar(sandbox)
    if modes["calcom"] == "real":
        _require("calcom", calcom_api_key=s.calcom_api_key)
        assert http is not None
        calendar = CalComClient(
            http,
            api_key=_secret(s.calcom_api_key) or "",
            event_type_id=s.calcom_event_type_id,
            base_url=s.calcom_base_url,
        )

    payments: PaymentsProvider = SandboxPayments(
        sandbox, checkout_base_url=f"http://{s.followthrough_api_host}:{s.followthrough_api_port}"
    )
    if modes["stripe"] == "real":
        _require("stripe", stripe_api_key=s.stripe_api_key)
        payments = StripePayments(
            _secret(s.stripe_api_key) or "",
            success_url=s.stripe_success_url,
            cancel_url=s.stripe_cancel_url,
            base_url=s.stripe_base_url,
            timeout=timeout,
        )

    crm: CRMProvider = SandboxCRM(sandbox)
    if modes["hubspot"] == "real":
        _require("hubspot", hubspot_token=s.hubspot_token)
        assert http is not None
        crm = HubSpotClient(http, token=_secret(s.hubspot_token) or "", base_url=s.hubspot_base_url)

    conversions: ConversionsProvider = SandboxConversions(sandbox)
    if modes["meta"] == "real":
        _require("meta", meta_pixel_id=s.meta_pixel_id, meta_access_token=s.meta_access_token)
        assert http is not None and s.meta_pixel_id is not None
        conversions = MetaConversionsClient(
            http,
            pixel_id=s.meta_pixel_id,
            access_token=_secret(s.meta_access_token) or "",
            api_version=s.meta_api_version,
            base_url=s.meta_base_url,
            test_event_code=s.meta_test_event_code,
        )

    llm: LLMProvider = SandboxLLM(sandbox)
    if modes["openai"] == "real":
        # A local OpenAI-compatible server may need no key; the SDK insists on one.
        chat = OpenAIChat(
            api_key=_secret(s.openai_api_key) or "unused",
            model=s.openai_model,
            base_url=s.openai_base_url,
            timeout=max(timeout, 60.0),
            http_client=openai_http_client,
        )
        closers.append(chat.aclose)
        llm = chat

    linkedin: LinkedInProvider = SandboxLinkedIn(
        sandbox, accept_after=timedelta(seconds=s.followthrough_sandbox_invitation_accept_seconds)
    )
    if modes["unipile"] == "real":
        _require("unipile", unipile_dsn=s.unipile_dsn, unipile_api_key=s.unipile_api_key)
        assert http is not None and s.unipile_dsn is not None
        linkedin = UnipileClient(http, dsn=s.unipile_dsn, api_key=_secret(s.unipile_api_key) or "")

    bots = build_bot_platforms(s, modes, sandbox, http)  # every bot platform (providers/bots.py)
    return Providers(
        messaging=messaging,
        calendar=calendar,
        payments=payments,
        crm=crm,
        conversions=conversions,
        llm=llm,
        linkedin=linkedin,
        bots=bots,
        outbox=outbox,
        sandbox=sandbox,
        modes=modes,
        _closers=closers,
    )
