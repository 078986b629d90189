"""Settings, read once from the environment and validated before anything starts.

Every setting has a safe local default, so `followthrough dev` runs on a fresh machine with no
configuration at all: the embedded Temporal dev server, a SQLite store under
``FOLLOWTHROUGH_HOME`` and sandbox providers. Production points the same code elsewhere with
environment variables only (see the README's configuration table).

A bad value never surfaces as a traceback: :func:`load_settings` turns pydantic's validation
error into :class:`ConfigError`, whose message is one line naming the variable and the fault,
and the CLI prints that line and exits with status 2.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Search attributes every Followthrough namespace needs (all Keyword). They carry ids only,
#: never personal data: search attributes are not encrypted by the payload codec.
SEARCH_ATTRIBUTES: tuple[str, ...] = ("CampaignId", "LeadId", "OrganizationId", "WorkflowFamily")
#: The journal modes the embedded server's SQLite file may be kept in (the first is the default).
JournalMode = Literal["wal", "delete"]
JOURNAL_MODES: tuple[str, ...] = get_args(JournalMode)
#: The owner of what the operator's key, a webhook or a schedule starts when no record names an
#: organization: the operator's own. A key of this organization sees those executions too.
DEFAULT_ORGANIZATION = "default"

PositiveInt = Annotated[int, Field(gt=0)]


#: Settings the seed systems named differently (Loomi, Nexpo): the variable a team already has
#: in its environment works unchanged; where both are set, ours wins. field -> the seed's names.
SEED_NAMES: dict[str, tuple[str, ...]] = {
    "temporal_address": ("TEMPORAL_SERVER_URL",),
    "temporal_namespace": ("TEMPORAL_CLOUD_NAMESPACE",),
    "temporal_api_key": ("TEMPORAL_CLOUD_API_KEY",),
    "temporal_tls_cert": ("TEMPORAL_CLIENT_CERT",),
    "temporal_tls_key": ("TEMPORAL_CLIENT_KEY",),
    "whatsapp_token": ("WHATSAPP_ACCESS_TOKEN",),
    "stripe_api_key": ("STRIPE_SECRET_KEY",),
    "calcom_api_key": ("CAL_API_KEY",),
    "calcom_event_type_id": ("CAL_EVENT_TYPE_ID",),
    "hubspot_token": ("HUBSPOT_API_KEY",),
    "enable_temporal": ("TEMPORAL_ENABLED",),
}


def _also(field: str) -> AliasChoices:
    """The variable named after ``field`` first, then the seed's names for it."""
    return AliasChoices(field, *(name.lower() for name in SEED_NAMES[field]))


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


class Settings(BaseSettings):
    """All of Followthrough's settings. Field ``x_y`` is read from the variable ``X_Y``."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True)

    #: production = refuse to start on a sandbox nobody chose, a weak operator key or missing keys
    #: (see followthrough.production); development = the safe local defaults fill every gap.
    followthrough_env: Literal["development", "production"] = "development"

    # --- Temporal -------------------------------------------------------------------------
    temporal_address: str | None = Field(
        default=None,
        validation_alias=_also("temporal_address"),
        description="host:port of Temporal; unset = the embedded dev server",
    )
    temporal_namespace: str = Field(default="default", validation_alias=_also("temporal_namespace"))
    temporal_task_queue: str = "followthrough"
    temporal_api_key: SecretStr | None = Field(default=None, validation_alias=_also("temporal_api_key"))
    temporal_tls_cert: SecretStr | None = Field(
        default=None, validation_alias=_also("temporal_tls_cert"), description="client cert PEM, base64"
    )
    temporal_tls_key: SecretStr | None = Field(
        default=None, validation_alias=_also("temporal_tls_key"), description="client key PEM, base64"
    )
    temporal_tls_cert_path: Path | None = None
    temporal_tls_key_path: Path | None = None
    temporal_max_concurrent_activities: PositiveInt = 100
    temporal_max_concurrent_workflows: PositiveInt = 50
    temporal_max_activities_per_second: float = Field(default=200.0, gt=0)

    # --- Embedded dev server --------------------------------------------------------------
    followthrough_dev_port: PositiveInt = 7233
    followthrough_ui_port: PositiveInt = 8233
    #: The Temporal Web UI the web app links executions to (default: the dev server's on
    #: 127.0.0.1:FOLLOWTHROUGH_UI_PORT); e.g. https://cloud.temporal.io for Temporal Cloud.
    followthrough_temporal_ui_url: str | None = None
    followthrough_dev_headless: bool = False
    #: The embedded server's SQLite journal: ``wal`` (one append per commit) or ``delete``
    #: (SQLite's default rollback journal, for a FOLLOWTHROUGH_HOME on a network file system).
    followthrough_dev_sqlite_journal: JournalMode = "wal"

    # --- API ------------------------------------------------------------------------------
    followthrough_api_key: SecretStr | None = None
    followthrough_api_host: str = "127.0.0.1"
    followthrough_api_port: PositiveInt = 8000

    # --- Request limits (issue 18 item 4; see followthrough.api.limits) ---------------------
    # Bodies: a larger one is refused with 413 before it is read whole. Lead lists: JSON objects
    # and CSV rows together per request. Rate limits: per API key and per webhook source, in
    # limits' notation ("600/minute", "10/second"; empty = none), kept in Redis when REDIS_URL
    # is set (shared by every API process), in memory otherwise.
    followthrough_max_body_bytes: PositiveInt = 1 << 20
    followthrough_max_upload_bytes: PositiveInt = 20 << 20
    followthrough_max_webhook_bytes: PositiveInt = 1 << 20
    followthrough_max_csv_rows: PositiveInt = 100_000
    # Input bounds (issue 18 item 2; see followthrough.bounds): the largest amount a
    # payment route accepts, in minor units; the store's BigInteger is the hard ceiling.
    followthrough_max_payment_amount: int = Field(default=100_000_000, gt=0, le=2**63 - 1)
    followthrough_rate_limit: str = Field(default="600/minute", description="per API key; empty = none")
    followthrough_webhook_rate_limit: str = Field(default="6000/minute", description="per webhook and client IP")
    followthrough_rate_limit_prefix: str = Field(
        default="followthrough", min_length=1, description="names this deployment's counters in a shared Redis"
    )
    redis_url: str | None = Field(default=None, description="redis:// or rediss:// URL; unset = in-memory limits")

    @field_validator("followthrough_rate_limit", "followthrough_webhook_rate_limit")
    @classmethod
    def _rate_parses(cls, value: str) -> str:
        from limits import parse

        if value.strip():
            parse(value)  # raises ValueError naming the bad string
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://", "async+redis")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value.split(':', 1)[0]}:…")
        return value

    # --- Store ----------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; unset = SQLite under FOLLOWTHROUGH_HOME"
    )
    followthrough_home: Path = Path(".followthrough")

    # --- Sales-assistant feature flags (issue 4) ------------------------------------------
    # On: the route starts the durable workflow. Off: the route runs the same activities inline,
    # best effort and non-durable, and says so ("mode": "inline"). Read per request, so flipping
    # a flag never touches workflows already running. See followthrough.api.flags.
    use_temporal_followups: bool = True
    use_temporal_booking: bool = True
    use_temporal_payments: bool = True
    use_temporal_integrations: bool = True
    #: Nexpo's ``POST /api/users``: the onboarding saga, or its steps inline.
    use_temporal_onboarding: bool = True
    #: The master switch (Nexpo's ENABLE_TEMPORAL, OpenCell's TEMPORAL_ENABLED): off turns every
    #: flagged route above to its inline path, whatever its own flag says.
    enable_temporal: bool = Field(default=True, validation_alias=_also("enable_temporal"))

    # --- User stores, content publishing, data sync (issue 6, platform-workflows B) -------
    # USER_STORES names the external databases users live in, in creation order:
    # "primary=postgresql+asyncpg://…,analytics=mysql+asyncmy://…,local=sqlite+aiosqlite:///…".
    # Empty = one store "local" on the app's own database. Parsed by followthrough.providers.user_stores.
    user_stores: str = Field(
        default="", description="name=URL pairs (SQLAlchemy async or mongodb://), comma-separated, in order"
    )
    user_stores_table: str = Field(default="users", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    #: Where approved content goes: store names; "app" is the app's own content_items table.
    content_publish_stores: str = "app"
    #: DataSyncWorkflow defaults (its input may override each): source store (empty = the first
    #: user store: ``local`` on the embedded defaults), target stores (empty = every other user
    #: store; with USER_STORES unset, ``replica``: a SQLite file under FOLLOWTHROUGH_HOME, so
    #: ``schedule create data-sync`` works on a fresh stack), table, primary key and cursor columns.
    data_sync_source: str = ""
    data_sync_targets: str = ""
    data_sync_table: str = Field(default="users", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    data_sync_key: str = "id"
    data_sync_cursor: str = "updated_at"
    data_sync_batch_size: PositiveInt = 200

    @field_validator("user_stores")
    @classmethod
    def _user_stores_parse(cls, value: str) -> str:
        from followthrough.providers.user_stores import parse_user_stores

        parse_user_stores(value)  # raises ValueError naming the bad entry
        return value

    # --- Payload encryption (see temporal/codec.py) ----------------------------------------
    followthrough_encrypt_payloads: bool = True
    followthrough_codec_keys: SecretStr | None = Field(
        default=None, description="id:base64key,... first encrypts; unset = a key kept under FOLLOWTHROUGH_HOME"
    )

    # --- Deployments, notifications, metrics (issue 6, platform-workflows A) ----------------
    followthrough_secrets_key: SecretStr | None = Field(
        default=None, description="base64 32-byte key sealing bot tokens; unset = a key kept under FOLLOWTHROUGH_HOME"
    )
    deployment_health_timeout_seconds: float = Field(default=300.0, gt=0)
    deployment_health_poll_seconds: float = Field(default=10.0, gt=0)
    email_api_key: SecretStr | None = Field(default=None, description="Resend API key; unset = sandbox email")
    email_api_base: str = "https://api.resend.com"
    email_from: str = "Followthrough <notifications@followthrough.local>"
    webhook_delivery_provider: str = Field(default="sandbox", pattern="^(sandbox|http)$", description="http = POST")
    notification_webhook_url: str | None = Field(default=None, description="default target of webhook notifications")
    notification_webhook_secret: SecretStr | None = Field(default=None, description="HMAC key signing them")
    #: User-supplied URLs (notification webhooks, bot webhooks) are never called on loopback,
    #: private, link-local or metadata addresses; hosts listed here are let through anyway.
    followthrough_allowed_callback_hosts: str = Field(
        default="", description="host or host:port, comma-separated, exempt from the internal-address check"
    )
    followthrough_sdk_metrics_address: str | None = Field(default=None, description="host:port of the SDK exporter")
    followthrough_metrics_address: str | None = Field(default=None, description="host:port, worker-only exporter")

    # --- Providers (issue 3, providers engineer; see followthrough.providers) --------------
    # Each provider is real when its credentials are set and sandbox otherwise;
    # FOLLOWTHROUGH_PROVIDERS overrides per provider ("whatsapp=sandbox,stripe=real").
    # The *_BASE_URL settings exist so tests and proxies can point a real client elsewhere.
    followthrough_providers: str = Field(default="", description="provider=real|sandbox pairs, comma-separated")
    followthrough_sandbox_faults: str = Field(
        default="", description='sandbox faults "provider.operation=probability:status|timeout", comma-separated'
    )
    followthrough_sandbox_seed: int = 0
    followthrough_sandbox_invitation_accept_seconds: float = Field(default=300.0, ge=0)
    followthrough_provider_timeout_seconds: float = Field(default=20.0, gt=0)
    whatsapp_token: SecretStr | None = Field(default=None, validation_alias=_also("whatsapp_token"))
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_version: str = "v21.0"
    whatsapp_base_url: str = "https://graph.facebook.com"
    whatsapp_templates: str = Field(
        default="",
        description='JSON: catalog message → approved template, e.g. {"payment/link": {"name": "payment_link", '
        '"parameters": ["name", "amount", "url"], "languages": {"es": "es_MX"}}}',
    )
    calcom_api_key: SecretStr | None = Field(default=None, validation_alias=_also("calcom_api_key"))
    calcom_webhook_secret: SecretStr | None = None
    calcom_event_type_id: int | None = Field(default=None, validation_alias=_also("calcom_event_type_id"))
    calcom_base_url: str = "https://api.cal.com"
    stripe_api_key: SecretStr | None = Field(default=None, validation_alias=_also("stripe_api_key"))
    stripe_webhook_secret: SecretStr | None = None
    stripe_base_url: str | None = Field(default=None, description="unset = the SDK's https://api.stripe.com")
    stripe_success_url: str = "http://127.0.0.1:8000/payments/success"
    stripe_cancel_url: str = "http://127.0.0.1:8000/payments/cancel"
    hubspot_token: SecretStr | None = Field(default=None, validation_alias=_also("hubspot_token"))
    hubspot_base_url: str = "https://api.hubapi.com"
    meta_pixel_id: str | None = None
    meta_access_token: SecretStr | None = None
    meta_api_version: str = "v21.0"
    meta_base_url: str = "https://graph.facebook.com"
    meta_test_event_code: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(default=None, description="unset = api.openai.com; any compatible server")
    openai_model: str = "gpt-4o-mini"
    unipile_dsn: str | None = Field(
        default=None, description="host:port of your Unipile API, e.g. api8.unipile.com:13851"
    )
    unipile_api_key: SecretStr | None = None
    unipile_webhook_secret: SecretStr | None = Field(
        default=None,
        description="the value of the Unipile-Auth header set on your Unipile webhook; unset refuses the webhook",
    )
    discord_bot_token: SecretStr | None = Field(default=None, description="default bot token when a call gives none")
    discord_base_url: str = "https://discord.com/api/v10"
    telegram_bot_token: SecretStr | None = Field(default=None, description="default bot token when a call gives none")
    telegram_base_url: str = "https://api.telegram.org"
    # --- Slack and WhatsApp bot platforms (issue 6 item 1, bot-platforms engineer) ------------
    # A WhatsApp bot reuses WHATSAPP_TOKEN / WHATSAPP_PHONE_NUMBER_ID / WHATSAPP_VERIFY_TOKEN and
    # follows the whatsapp provider's mode; its WABA id is needed to set and remove its webhook.
    slack_bot_token: SecretStr | None = Field(default=None, description="default bot token when a call gives none")
    slack_base_url: str = "https://slack.com/api"
    whatsapp_business_account_id: str | None = Field(
        default=None, pattern=r"^\d{1,32}$", description="WABA id of the default WhatsApp bot (subscribed_apps)"
    )
    # --- end Slack and WhatsApp bot platforms ----------------------------------------------------
    # --- Slack events webhook (webhooks engineer; api/routes/webhook_slack.py) -----------------
    # The Slack app's Signing Secret (Basic Information page): POST /webhook/slack checks
    # X-Slack-Signature with it. Unset = that route refuses every request (403).
    slack_signing_secret: SecretStr | None = Field(default=None, description="Slack app signing secret")
    # --- end Slack events webhook ----------------------------------------------------------------

    @field_validator(
        "followthrough_allowed_callback_hosts",
        "followthrough_providers",
        "whatsapp_templates",
        "followthrough_sandbox_faults",
    )
    @classmethod
    def _small_language_parses(cls, value: str, info: ValidationInfo) -> str:
        """These settings are each a small language: its parser raises ValueError naming the bad
        entry (imported here, late: the providers read the settings)."""
        from followthrough.providers.contracts.templates import parse_whatsapp_templates
        from followthrough.providers.selection import parse_faults, parse_provider_modes
        from followthrough.providers.urls import parse_allowed_hosts

        parsers: dict[str, Callable[[str], object]] = {
            "followthrough_allowed_callback_hosts": parse_allowed_hosts,
            "followthrough_providers": parse_provider_modes,
            "whatsapp_templates": parse_whatsapp_templates,
            "followthrough_sandbox_faults": parse_faults,
        }
        parsers[str(info.field_name)](value)
        return value

    log_level: str = "INFO"
    #: text = "time LEVEL logger: message"; json = one object per line (see followthrough.logs).
    followthrough_log_format: str = Field(default="text", pattern="^(text|json)$")

    @field_validator("temporal_address")
    @classmethod
    def _address_has_port(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("temporal_tls_cert", "temporal_tls_key")
    @classmethod
    def _is_base64(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("is not valid base64 (give the PEM base64-encoded, or use *_PATH)") from exc
        return value

    @field_validator("temporal_tls_cert_path", "temporal_tls_key_path")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("followthrough_codec_keys")
    @classmethod
    def _codec_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from followthrough.temporal.codec import parse_keys

            parse_keys(value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _tls_pairs(self) -> Settings:
        has_cert = self.temporal_tls_cert is not None or self.temporal_tls_cert_path is not None
        has_key = self.temporal_tls_key is not None or self.temporal_tls_key_path is not None
        if has_cert != has_key:
            raise ValueError("TEMPORAL_TLS_CERT(_PATH) and TEMPORAL_TLS_KEY(_PATH) must be given together")
        if self.temporal_address and self.followthrough_encrypt_payloads and self.followthrough_codec_keys is None:
            # Workers on other machines could not read payloads encrypted with a local key.
            raise ValueError(
                "FOLLOWTHROUGH_CODEC_KEYS must be set when TEMPORAL_ADDRESS is "
                "(or FOLLOWTHROUGH_ENCRYPT_PAYLOADS=false)"
            )
        if self.temporal_address and self.followthrough_secrets_key is None:
            raise ValueError(
                "FOLLOWTHROUGH_SECRETS_KEY must be set when TEMPORAL_ADDRESS is: workers on other machines "
                "must unseal the same bot tokens"
            )
        return self

    # --- derived values -------------------------------------------------------------------
    @property
    def production(self) -> bool:
        return self.followthrough_env == "production"

    @property
    def embedded(self) -> bool:
        """True when no external Temporal is configured and `dev` runs its own."""
        return self.temporal_address is None

    @property
    def target_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.followthrough_dev_port}"

    @cached_property
    def home(self) -> Path:
        return self.followthrough_home.expanduser().resolve()

    @property
    def allowed_callback_hosts(self) -> frozenset[str]:
        from followthrough.providers.urls import parse_allowed_hosts

        return parse_allowed_hosts(self.followthrough_allowed_callback_hosts)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'followthrough.db'}"

    def tls_material(self) -> tuple[bytes, bytes] | None:
        """The mTLS client certificate and key as PEM bytes, or None for no mTLS."""
        if self.temporal_tls_cert is not None and self.temporal_tls_key is not None:
            return (
                base64.b64decode(self.temporal_tls_cert.get_secret_value()),
                base64.b64decode(self.temporal_tls_key.get_secret_value()),
            )
        if self.temporal_tls_cert_path is not None and self.temporal_tls_key_path is not None:
            return self.temporal_tls_cert_path.read_bytes(), self.temporal_tls_key_path.read_bytes()
        return None


def _variable(field: str) -> str:
    """The environment variable a field was read from: ours, or the seed's name when only that
    one is set."""
    present = {name.upper() for name in os.environ}
    for name in (field.upper(), *SEED_NAMES.get(field, ())):
        if name in present:
            return name
    return field.upper()


def describe_validation_error(exc: ValidationError) -> str:
    """One line per fault, each naming the environment variable, joined by '; '."""
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = _variable(str(loc[0])) if loc else "settings"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if loc else message)
    return "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, raising :class:`ConfigError` on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"configuration error: {describe_validation_error(exc)}") from None
