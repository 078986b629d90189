"""Bot deployments (OpenCell): inputs, results, the steps and their rules.

A deployment runs five steps — validate the config, create the bot record, deploy on the
platform, poll its health until healthy or a deadline, mark it active — and undoes what it did,
in reverse, when a step fails for good or the deployment is cancelled.

Secrets never travel in clear: the bot's token (and any other secret key of ``config``) is
*sealed* (AES-GCM under ``FOLLOWTHROUGH_SECRETS_KEY``) by whoever starts the deployment, so the
workflow's input, its activities' inputs and results, its history and its logs only ever hold
ciphertext; only the activities that talk to the platform unseal it, in memory. :func:`seal`
and :func:`unseal` are pure functions of the key; :func:`redact` scrubs a secret's clear text
out of any message (a platform's error text may echo the URL that carries the token).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from followthrough.bounds import MAX_ITEMS, Name
from followthrough.providers.urls import url_problem

BotType = Literal["discord", "telegram", "slack", "whatsapp"]
BOT_TYPES: tuple[str, ...] = ("discord", "telegram", "slack", "whatsapp")

#: Config keys whose values are secrets (matched on the key's words: ``bot_token``,
#: ``signingSecret``, ``api-key``…). They must be sealed before a deployment starts.
SECRET_WORDS = ("token", "secret", "password", "apikey", "api_key", "private_key", "credential")

#: The steps, in order, with the progress reported while each runs (``active`` = done).
Step = Literal["validating", "creating_record", "deploying", "health_check", "activating", "active"]
STEP_PROGRESS: dict[str, int] = {
    "pending": 0,
    "validating": 10,
    "creating_record": 25,
    "deploying": 50,
    "health_check": 75,
    "activating": 90,
    "active": 100,
}
STEP_LABELS: dict[str, str] = {
    "pending": "Waiting to start",
    "validating": "Validating config",
    "creating_record": "Creating bot record",
    "deploying": "Deploying to platform",
    "health_check": "Checking health",
    "activating": "Marking active",
    "active": "Active",
    "rolling_back": "Rolling back",
    "rolled_back": "Rolled back",
}

#: Compensations, named as the result's ``rolled_back`` lists them.
UNDEPLOY = "undeploy"
DELETE_RECORD = "delete_record"

#: Steps that need webhooks set on the platform after registering.
WEBHOOK_TYPES = frozenset({"telegram", "slack", "whatsapp"})

#: What each bot type needs: secret keys, then (non-secret) config keys.
REQUIREMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "discord": (("token",), ()),
    "telegram": (("token",), ("webhook_url",)),
    "slack": (("token", "signing_secret"), ("webhook_url",)),
    "whatsapp": (("token",), ("phone_number_id", "business_account_id", "webhook_url")),
}

_TOKEN_SHAPES: dict[str, re.Pattern[str]] = {
    "telegram": re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$"),
    "slack": re.compile(r"^xox[bp]-[A-Za-z0-9-]{10,}$"),
}


def is_secret_key(key: str) -> bool:
    """True when a config key names a secret (``token``, ``botToken``, ``signing_secret``…)."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower().replace("-", "_")
    return any(word in snake or word in snake.replace("_", "") for word in SECRET_WORDS)


# --- sealing -------------------------------------------------------------------------------
_SEAL_PREFIX = "sealed:v1:"


class SealedSecret(BaseModel):
    """A secret as ciphertext: ``sealed:v1:<key id>:<base64 nonce‖ciphertext>``."""

    model_config = ConfigDict(frozen=True)

    sealed: str = Field(pattern=r"^sealed:v1:[0-9a-f]{8}:[A-Za-z0-9_=-]+$")

    def __repr__(self) -> str:
        return "SealedSecret('**********')"

    __str__ = __repr__


class UnsealError(ValueError):
    """The ciphertext was not sealed with this key (or was altered)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def seal(value: str, key: bytes, *, context: str = "") -> SealedSecret:
    """Encrypt ``value`` under ``key`` (32 bytes), bound to ``context`` (e.g. the bot name)."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, value.encode(), context.encode())
    blob = base64.urlsafe_b64encode(nonce + ciphertext).decode()
    return SealedSecret(sealed=f"{_SEAL_PREFIX}{key_id(key)}:{blob}")


def unseal(secret: SealedSecret, key: bytes, *, context: str = "") -> str:
    kid, _, blob = secret.sealed.removeprefix(_SEAL_PREFIX).partition(":")
    if kid != key_id(key):
        raise UnsealError(f"sealed with key {kid}, this worker has key {key_id(key)}")
    raw = base64.urlsafe_b64decode(blob.encode())
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except InvalidTag:
        raise UnsealError("the sealed secret does not open with this key and context") from None


def seal_config(
    config: Mapping[str, Any], key: bytes, *, context: str
) -> tuple[dict[str, Any], dict[str, SealedSecret]]:
    """Split a raw config into its public part and its secrets, sealed."""
    public: dict[str, Any] = {}
    secrets: dict[str, SealedSecret] = {}
    for name, value in config.items():
        if is_secret_key(name):
            secrets[name] = seal(str(value), key, context=context)
        else:
            public[name] = value
    return public, secrets


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every clear secret (and its URL-quoted form) replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***").replace(secret.replace(":", "%3A"), "***")
    return text


# --- inputs and results ----------------------------------------------------------------------
class BotDeploymentInput(BaseModel):
    """``config`` holds non-secret settings; every secret is in ``secrets``, sealed."""

    bot_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    bot_type: BotType
    config: dict[Name, Any] = Field(default_factory=dict, max_length=MAX_ITEMS)
    secrets: dict[Name, SealedSecret] = Field(default_factory=dict, max_length=MAX_ITEMS)
    owner: str = Field(min_length=1, max_length=128)
    health_timeout_seconds: float = Field(default=300.0, gt=0, le=24 * 3600, allow_inf_nan=False)
    health_poll_seconds: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)

    @field_validator("config")
    @classmethod
    def _no_clear_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        clear = sorted(k for k in value if is_secret_key(k))
        if clear:
            raise ValueError(
                f"{', '.join(clear)} must not be given in clear: seal it (POST /api/deployments does) "
                "and pass it in `secrets`"
            )
        return value

    @model_validator(mode="after")
    def _poll_within_deadline(self) -> BotDeploymentInput:
        if self.health_poll_seconds > self.health_timeout_seconds:
            raise ValueError("health_poll_seconds must not exceed health_timeout_seconds")
        return self


def deployment_workflow_id(bot_name: str) -> str:
    return f"deployment-{bot_name}"


class DeploymentStatus(BaseModel):
    """What the ``status`` query answers."""

    step: str = "pending"
    label: str = STEP_LABELS["pending"]
    progress: int = Field(default=0, ge=0, le=100)
    paused: bool = False
    state: Literal["running", "succeeded", "rolling_back", "failed", "cancelled"] = "running"
    bot_id: str | None = None
    failed_step: str | None = None
    error: str | None = None
    rolled_back: list[str] = Field(default_factory=list)
    health_checks: int = 0


class BotDeploymentResult(BaseModel):
    success: bool
    bot_id: str | None = None
    platform_bot_id: str | None = None
    error: str | None = None
    failed_step: str | None = None
    rolled_back: list[str] = Field(default_factory=list)
    #: ``"undo: Type: message"`` of each undo that failed for good: left for a person to finish.
    compensation_errors: list[str] = Field(default_factory=list)


# --- activity inputs and results -------------------------------------------------------------
class ValidateBotConfigInput(BaseModel):
    bot_name: str
    bot_type: BotType
    config: dict[str, Any]
    secrets: dict[str, SealedSecret]


class CreateBotRecordInput(BaseModel):
    """The record's id is the workflow id's business identity: a retried create finds it."""

    bot_id: str
    bot_name: str
    bot_type: BotType
    owner: str
    config: dict[str, Any]
    workflow_id: str


class PlatformCallInput(BaseModel):
    """One call to the bot platform: register, set the webhook, check health, undeploy."""

    bot_id: str
    bot_name: str
    bot_type: BotType
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, SealedSecret] = Field(default_factory=dict)
    platform_bot_id: str | None = None
    idempotency_key: str


class RegisterResult(BaseModel):
    platform_bot_id: str


class BotHealthResult(BaseModel):
    healthy: bool
    detail: str | None = None


class BotRecordInput(BaseModel):
    """Mark a record active, or delete it."""

    bot_id: str
    platform_bot_id: str | None = None


# --- pure rules --------------------------------------------------------------------------------
def config_problems(
    bot_type: str, config: Mapping[str, Any], secrets: Mapping[str, str], allowed_hosts: Iterable[str] = ()
) -> list[str]:
    """Why a bot's config cannot be deployed (empty when it can). ``secrets`` in clear;
    ``allowed_hosts`` = FOLLOWTHROUGH_ALLOWED_CALLBACK_HOSTS (internal webhook hosts let through)."""
    return [problem for _, problem in config_errors(bot_type, config, secrets, allowed_hosts)]


def config_errors(
    bot_type: str, config: Mapping[str, Any], secrets: Mapping[str, str], allowed_hosts: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """:func:`config_problems` with the config key each is about, so the API's 422 names it."""
    needed_secrets, needed_config = REQUIREMENTS[bot_type]
    errors = [
        (name, f"secret {name!r} is required for a {bot_type} bot") for name in needed_secrets if not secrets.get(name)
    ]
    errors += [
        (name, f"config {name!r} is required for a {bot_type} bot") for name in needed_config if not config.get(name)
    ]
    url = config.get("webhook_url")
    if url and not str(url).startswith("https://"):
        errors.append(("webhook_url", "config 'webhook_url' must be an https:// URL"))
    elif url and (unsafe := url_problem(str(url), allowed_hosts)):
        errors.append(("webhook_url", f"config 'webhook_url' {unsafe}"))
    shape = _TOKEN_SHAPES.get(bot_type)
    token = secrets.get("token")
    if shape is not None and token and not shape.match(token):
        errors.append(("token", f"secret 'token' does not look like a {bot_type} token"))
    return errors
