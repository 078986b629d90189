"""Bot-deployment activities: the bot record, and the platform calls with the sealed token.

These call the bots capability (``services.providers.bots``) with the token sealed in their
input: an activity taking the token in clear would put it in the workflow's history (there is
none such; a ``bots.*`` group that took it was removed unused). Here the token is unsealed in
memory, passed to the provider, masked in the outbox record and scrubbed from any error message.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast, get_args

import pydantic
from temporalio import activity

from followthrough.config import ConfigError, Settings
from followthrough.errors import FollowthroughError, ValidationError, as_temporal_errors, to_application_error
from followthrough.processes.deployments.rules import (
    BotHealthResult,
    BotRecordInput,
    CreateBotRecordInput,
    PlatformCallInput,
    RegisterResult,
    SealedSecret,
    UnsealError,
    ValidateBotConfigInput,
    config_problems,
    redact,
    unseal,
)
from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealthInput,
    BotPlatform,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
)
from followthrough.services import Services

KEY_FILE = "secrets.key"


def _platform(bot_type: str) -> BotPlatform:
    if bot_type not in get_args(BotPlatform):
        raise to_application_error(ValidationError(f"no bot-platform adapter for {bot_type} bots"))
    return cast(BotPlatform, bot_type)


def _account(config: dict[str, Any], secrets: dict[str, str]) -> BotAccount:
    """The platform ids a token alone does not name (WhatsApp's phone number and WABA, Slack's
    app id and app configuration token), from the bot's config and secrets."""

    def text(value: Any) -> str | None:
        return None if value in (None, "") else str(value)

    try:
        return BotAccount(
            phone_number_id=text(config.get("phone_number_id")),
            business_account_id=text(config.get("business_account_id")),
            app_id=text(config.get("app_id")),
            app_config_token=text(secrets.get("app_config_token")),
        )
    except pydantic.ValidationError as exc:
        reasons = "; ".join(f"config {'.'.join(map(str, e['loc']))!r}: {e['msg']}" for e in exc.errors())
        raise to_application_error(ValidationError(reasons)) from None


def _webhook_secret(secrets: dict[str, str]) -> str | None:
    """Telegram's secret_token header, WhatsApp's verify token: whichever the owner sealed."""
    return secrets.get("webhook_secret") or secrets.get("verify_token")


def secrets_key(settings: Settings) -> bytes:
    """The 32-byte sealing key: ``FOLLOWTHROUGH_SECRETS_KEY`` (base64), or, in development only,
    one kept under ``FOLLOWTHROUGH_HOME`` (created on first use, mode 0600)."""
    if settings.followthrough_secrets_key is not None:
        try:
            key = base64.b64decode(settings.followthrough_secrets_key.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("configuration error: FOLLOWTHROUGH_SECRETS_KEY is not valid base64") from None
        if len(key) != 32:
            raise ConfigError("configuration error: FOLLOWTHROUGH_SECRETS_KEY must decode to 32 bytes")
        return key
    if settings.production:
        raise ConfigError("configuration error: FOLLOWTHROUGH_SECRETS_KEY is required in production")
    path: Path = settings.home / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it a moment ago
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(os.urandom(32)).decode())
    return base64.b64decode(path.read_text().strip())


class DeploymentActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories.bots import BotDeployments

        self._services = services
        self._records = BotDeployments(services.database)
        self._key: bytes | None = None

    # --- helpers ------------------------------------------------------------------------------
    def _open(self, bot_name: str, sealed: dict[str, SealedSecret]) -> dict[str, str]:
        if self._key is None:
            self._key = secrets_key(self._services.settings)
        try:
            return {name: unseal(value, self._key, context=bot_name) for name, value in sealed.items()}
        except UnsealError as exc:
            raise to_application_error(
                ValidationError(f"a sealed secret does not open on this worker: {exc}")
            ) from None

    @contextmanager
    def _scrubbed(self, secrets: dict[str, str]) -> Iterator[None]:
        """Provider errors leave as their error class with every secret scrubbed out."""
        with provider_call():
            try:
                yield
            except FollowthroughError as exc:
                exc.message = redact(exc.message, secrets.values())
                exc.args = (exc.message,)
                raise
            except Exception as exc:
                raise type(exc)(redact(str(exc), secrets.values())) from None

    def _platform_supported(self, bot_type: str) -> bool:
        clients = getattr(self._services.providers.bots, "clients", None)
        return clients is None or bot_type in clients

    def _target(self, input: PlatformCallInput) -> tuple[dict[str, str], dict[str, Any]]:
        """The bot's secrets opened, and what every platform call names: platform, token, account."""
        secrets = self._open(input.bot_name, input.secrets)
        target = {
            "platform": _platform(input.bot_type),
            "token": secrets["token"],
            "account": _account(input.config, secrets),
        }
        return secrets, target

    async def _once(
        self,
        operation: str,
        input: PlatformCallInput,
        secrets: dict[str, str],
        request: dict[str, Any],
        call: Callable[[], Awaitable[Any]],
    ) -> dict[str, Any]:
        """The platform call, at most once successfully per key, its errors scrubbed of
        ``secrets``; the recorded response after."""

        async def run() -> dict[str, Any]:
            return (await call()).model_dump(mode="json")  # type: ignore[no-any-return]

        with self._scrubbed(secrets):
            entry = await self._services.providers.outbox.once(
                provider=input.bot_type,
                operation=operation,
                idempotency_key=input.idempotency_key,
                request=request,
                call=run,
            )
        return entry.response or {}

    # --- activities ---------------------------------------------------------------------------
    @activity.defn(name="deployments.validate_config")
    async def validate_config(self, input: ValidateBotConfigInput) -> None:
        with as_temporal_errors():
            secrets = self._open(input.bot_name, input.secrets)
            allowed = self._services.settings.allowed_callback_hosts
            problems = config_problems(input.bot_type, input.config, secrets, allowed)
            if not self._platform_supported(input.bot_type):
                supported = ", ".join(getattr(self._services.providers.bots, "clients", {}))
                problems.append(f"no bot-platform adapter for {input.bot_type} bots (supported: {supported})")
            _account(input.config, secrets)  # ids of the wrong shape are refused here, before any side effect
            verify_default = self._services.settings.whatsapp_verify_token
            if input.bot_type == "whatsapp" and not (_webhook_secret(secrets) or verify_default):
                problems.append("secret 'verify_token' is required for a whatsapp bot (or set WHATSAPP_VERIFY_TOKEN)")
            if problems:
                raise ValidationError("; ".join(problems))

    @activity.defn(name="deployments.create_record")
    async def create_record(self, input: CreateBotRecordInput) -> None:
        # A retried create finds the record and leaves it as it is.
        await self._records.create(
            deployment_id=input.bot_id,
            bot_name=input.bot_name,
            bot_type=input.bot_type,
            owner=input.owner,
            config=input.config,
            status="deploying",
            step="creating_record",
            progress=25,
            webhook_url=input.config.get("webhook_url"),
            workflow_id=input.workflow_id,
        )

    @activity.defn(name="deployments.register")
    async def register(self, input: PlatformCallInput) -> RegisterResult:
        secrets, target = self._target(input)
        call = RegisterBotInput(**target, idempotency_key=input.idempotency_key)
        bots = self._services.providers.bots
        response = await self._once("register", input, secrets, call.redacted(), lambda: bots.register(call))
        return RegisterResult(platform_bot_id=str(response["bot_id"]))

    @activity.defn(name="deployments.set_webhook")
    async def set_webhook(self, input: PlatformCallInput) -> None:
        secrets, target = self._target(input)
        call = SetWebhookInput(
            **target,
            url=str(input.config["webhook_url"]),
            secret_token=_webhook_secret(secrets),
            idempotency_key=input.idempotency_key,
        )
        request = {**call.redacted(), "secret_token": "***" if call.secret_token else None}
        bots = self._services.providers.bots
        result = await self._once("set_webhook", input, secrets, request, lambda: bots.set_webhook(call))
        if result.get("manual_step_required"):  # e.g. Slack without an app configuration token
            activity.logger.warning("bot %s: %s", input.bot_name, result["manual_step_required"])

    @activity.defn(name="deployments.health")
    async def health(self, input: PlatformCallInput) -> BotHealthResult:
        secrets, target = self._target(input)
        call = BotHealthInput(**target)
        with self._scrubbed(secrets):
            health = await self._services.providers.bots.health(call)
        wanted = input.config.get("webhook_url")
        if health.ok and wanted and health.webhook_url not in (None, wanted):
            return BotHealthResult(healthy=False, detail=f"webhook points at {health.webhook_url}, not {wanted}")
        detail = redact(health.detail or (f"@{health.username}" if health.username else ""), secrets.values())
        return BotHealthResult(healthy=health.ok, detail=detail or None)

    @activity.defn(name="deployments.mark_active")
    async def mark_active(self, input: BotRecordInput) -> None:
        with as_temporal_errors():
            if not await self._records.mark_active(input.bot_id, input.platform_bot_id):
                raise ValidationError(f"bot record {input.bot_id} is gone")

    @activity.defn(name="deployments.undeploy")
    async def undeploy(self, input: PlatformCallInput) -> None:
        secrets, target = self._target(input)
        call = UnregisterBotInput(**target, idempotency_key=input.idempotency_key)
        bots = self._services.providers.bots
        await self._once("unregister", input, secrets, call.redacted(), lambda: bots.unregister(call))

    @activity.defn(name="deployments.delete_record")
    async def delete_record(self, input: BotRecordInput) -> None:
        await self._records.delete(input.bot_id)
