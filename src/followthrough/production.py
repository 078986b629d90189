"""Production mode (``FOLLOWTHROUGH_ENV=production``): what the process refuses to start with.

In development every gap has a safe local default: a provider without credentials is a
sandbox, `dev` generates an operator key, the codec and sealing keys are created under
``FOLLOWTHROUGH_HOME``. In production each of those defaults would hide a fault (a payment
link nobody can pay, a key anyone can guess, payloads no other machine can read), so
:func:`production_faults` names them, one line each, and the CLI refuses to start on any
error (warnings are printed and the process starts).

Pure: it reads the settings only, never the disk or the network, and is tested directly.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from followthrough.config import Settings
from followthrough.providers.factory import provider_modes
from followthrough.providers.selection import parse_provider_modes

#: The operator key is a bearer secret for every organization: at least this long.
MIN_API_KEY_LENGTH = 32
#: Words that mark a key as a placeholder someone forgot to replace, wherever they appear.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "placeholder", "replaceme", "yourkey", "your-key")
#: Keys made only of repetitions of these (any case, any separators) are placeholders too.
_PLACEHOLDER_UNITS = ("secret", "test", "password", "dev", "admin", "key", "default", "example", "1234", "abc")
#: The variables that make each provider real (FOLLOWTHROUGH_PROVIDERS names the rest sandboxes).
CREDENTIALS: dict[str, str] = {
    "whatsapp": "WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID",
    "calcom": "CALCOM_API_KEY",
    "stripe": "STRIPE_API_KEY",
    "hubspot": "HUBSPOT_TOKEN",
    "meta": "META_PIXEL_ID and META_ACCESS_TOKEN",
    "openai": "OPENAI_API_KEY or OPENAI_BASE_URL",
    "unipile": "UNIPILE_DSN and UNIPILE_API_KEY",
    "discord": "DISCORD_BOT_TOKEN",
    "telegram": "TELEGRAM_BOT_TOKEN",
    "slack": "SLACK_BOT_TOKEN",
    "email": "EMAIL_API_KEY",
}
#: Directories whose files do not survive a reboot (or a container restart).
_EPHEMERAL_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


@dataclass(frozen=True)
class StartupFault:
    """One thing wrong with a production configuration: ``error`` refuses the start."""

    level: Literal["error", "warning"]
    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.variable}: {self.message}"


def sandboxed_providers(settings: Settings) -> list[str]:
    """The providers this process runs on sandboxes, in :data:`PROVIDERS` order, then the
    webhook channel (``WEBHOOK_DELIVERY_PROVIDER``)."""
    names = [name for name, mode in provider_modes(settings).items() if mode == "sandbox"]
    if settings.webhook_delivery_provider == "sandbox":
        names.append("webhook")
    return names


def placeholder_key(key: str) -> bool:
    """Whether ``key`` is a known placeholder: one character repeated, a placeholder word, or
    nothing but repetitions of a word like ``secret`` or ``test``."""
    lowered = key.lower()
    if len(set(lowered)) <= 1 or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    letters = re.sub(r"[^a-z0-9]", "", lowered)
    return bool(letters) and any(letters == unit * (len(letters) // len(unit)) for unit in _PLACEHOLDER_UNITS)


def _provider_faults(settings: Settings) -> list[StartupFault]:
    chosen = parse_provider_modes(settings.followthrough_providers)
    faults = [
        StartupFault(
            "error",
            "FOLLOWTHROUGH_PROVIDERS",
            f"{name} has no credentials and would silently be a sandbox: set "
            f"{CREDENTIALS.get(name, 'its credentials')}, or add {name}=sandbox",
        )
        for name, mode in provider_modes(settings).items()
        if mode == "sandbox" and chosen.get(name) != "sandbox"
    ]
    if settings.webhook_delivery_provider == "sandbox" and "webhook_delivery_provider" not in settings.model_fields_set:
        faults.append(
            StartupFault(
                "error",
                "WEBHOOK_DELIVERY_PROVIDER",
                "unset, so webhook notifications would silently go to the sandbox: set http, or sandbox explicitly",
            )
        )
    return faults


def _api_key_faults(settings: Settings) -> list[StartupFault]:
    key = settings.followthrough_api_key.get_secret_value() if settings.followthrough_api_key else ""
    if not key.strip():
        problem = "is not set"
    elif len(key) < MIN_API_KEY_LENGTH:
        problem = f"is {len(key)} characters, fewer than {MIN_API_KEY_LENGTH}"
    elif placeholder_key(key):
        problem = "is a placeholder"
    else:
        return []
    hint = "generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    return [StartupFault("error", "FOLLOWTHROUGH_API_KEY", f"{problem}; {hint}")]


def _key_faults(settings: Settings) -> list[StartupFault]:
    faults = []
    if not settings.followthrough_encrypt_payloads:
        faults.append(
            StartupFault(
                "error",
                "FOLLOWTHROUGH_ENCRYPT_PAYLOADS",
                "is false: personal data would reach Temporal in clear",
            )
        )
    elif settings.followthrough_codec_keys is None:
        faults.append(
            StartupFault(
                "error",
                "FOLLOWTHROUGH_CODEC_KEYS",
                "is not set (production creates no key file under FOLLOWTHROUGH_HOME)",
            )
        )
    secret = settings.followthrough_secrets_key
    if secret is None:
        faults.append(
            StartupFault(
                "error",
                "FOLLOWTHROUGH_SECRETS_KEY",
                "is not set (production creates no key file under FOLLOWTHROUGH_HOME)",
            )
        )
    else:
        try:
            length = len(base64.b64decode(secret.get_secret_value(), validate=True))
        except (binascii.Error, ValueError):
            length = -1
        if length != 32:
            faults.append(StartupFault("error", "FOLLOWTHROUGH_SECRETS_KEY", "must be base64 of 32 bytes"))
    return faults


def _store_faults(settings: Settings) -> list[StartupFault]:
    variable = "DATABASE_URL" if settings.database_url else "FOLLOWTHROUGH_HOME"
    from followthrough.store import sqlite_path

    # None: another back-end, or a malformed URL (the store itself reports it when it opens).
    database = sqlite_path(settings.effective_database_url)
    if database is None:
        return []
    if database == ":memory:":
        where = "in memory"
    else:
        path = PurePosixPath(database)
        if not path.is_absolute():
            return []  # relative to the working directory: persistent as far as we can tell
        if not any(path.is_relative_to(d) for d in _EPHEMERAL_DIRS):
            return []
        where = f"under {next(d for d in _EPHEMERAL_DIRS if path.is_relative_to(d))}"
    return [StartupFault("warning", variable, f"the SQLite store is {where}: it will not survive a restart")]


def production_faults(settings: Settings, *, serves_api: bool = True) -> list[StartupFault]:
    """Everything a production start refuses (``error``) or warns about (``warning``), in a
    stable order: providers, operator key, encryption keys, store. ``serves_api=False`` (a
    worker) skips the operator key, which only the API checks."""
    faults = _provider_faults(settings)
    if serves_api:
        faults += _api_key_faults(settings)
    return faults + _key_faults(settings) + _store_faults(settings)
