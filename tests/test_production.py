"""Production mode: what `followthrough api|worker|dev` refuses to start with, and what changes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from followthrough.config import ConfigError, Settings
from followthrough.production import StartupFault, placeholder_key, production_faults, sandboxed_providers
from followthrough.serve import sandbox_line

GOOD_KEY = "kQ3v8N1xZpR7tYw2LmB5cD9fH4jS6uEa"  # 32 random-looking characters
CODEC_KEYS = "k1:" + base64.b64encode(os.urandom(32)).decode()
SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
#: Every provider chosen: the real ones by credentials, the others explicitly sandboxed.
PROVIDERS_CHOSEN = ",".join(
    f"{name}=sandbox" for name in ("whatsapp", "calcom", "hubspot", "meta", "openai", "linkedin", "bots", "email")
)


def production(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    """A good production configuration, with ``overrides`` applied (``...`` leaves one unset)."""
    values: dict[str, Any] = {
        "followthrough_env": "production",
        "followthrough_api_key": GOOD_KEY,
        "followthrough_codec_keys": CODEC_KEYS,
        "followthrough_secrets_key": SECRETS_KEY,
        "stripe_api_key": "sk_live_x",
        "followthrough_providers": PROVIDERS_CHOSEN,
        "webhook_delivery_provider": "http",
        "database_url": "postgresql+asyncpg://app@db.internal/followthrough",
    }
    values.update(overrides)
    return make_settings(**{name: value for name, value in values.items() if value is not ...})


def lines(faults: list[StartupFault]) -> list[str]:
    return [str(fault) for fault in faults]


def test_a_good_production_environment_has_no_fault(make_settings: Callable[..., Settings]) -> None:
    assert production_faults(production(make_settings)) == []


def test_a_provider_without_credentials_that_nobody_sandboxed_is_an_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = production(make_settings, stripe_api_key=None, followthrough_providers="whatsapp=sandbox")
    faults = production_faults(settings)
    named = {line.split(": ", 2)[2].split()[0] for line in lines(faults) if "FOLLOWTHROUGH_PROVIDERS" in line}
    assert named == {
        "calcom",
        "stripe",
        "hubspot",
        "meta",
        "openai",
        "unipile",
        "discord",
        "telegram",
        "slack",
        "email",
    }
    assert all(fault.level == "error" for fault in faults)
    assert "stripe=sandbox" in next(line for line in lines(faults) if ": stripe " in line)


def test_an_unset_webhook_channel_is_an_error_but_an_explicit_sandbox_is_not(
    make_settings: Callable[..., Settings],
) -> None:
    unset = production(make_settings, webhook_delivery_provider=...)
    assert [f.variable for f in production_faults(unset)] == ["WEBHOOK_DELIVERY_PROVIDER"]
    assert production_faults(production(make_settings, webhook_delivery_provider="sandbox")) == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("x" * 31, "fewer than 32"),
        ("a" * 40, "placeholder"),
        ("changeme-please-0123456789abcdef0123", "placeholder"),
        ("secret" * 6, "placeholder"),
        ("test-test-test-test-test-test-test-test", "placeholder"),
        ("PASSWORDpasswordPASSWORDpassword", "placeholder"),
        ("dev" * 11, "placeholder"),
    ],
)
def test_a_weak_operator_key_is_an_error(make_settings: Callable[..., Settings], key: str | None, reason: str) -> None:
    faults = production_faults(production(make_settings, followthrough_api_key=key))
    assert [(f.level, f.variable) for f in faults] == [("error", "FOLLOWTHROUGH_API_KEY")]
    assert reason in faults[0].message and (key is None or key == "" or key not in str(faults[0]))


def test_a_random_key_is_no_placeholder() -> None:
    assert not placeholder_key(GOOD_KEY)
    assert not placeholder_key("secret-" + GOOD_KEY)


def test_a_worker_does_not_need_the_operator_key(make_settings: Callable[..., Settings]) -> None:
    assert production_faults(production(make_settings, followthrough_api_key=None), serves_api=False) == []


def test_missing_codec_and_secrets_keys_are_errors(make_settings: Callable[..., Settings]) -> None:
    settings = production(make_settings, followthrough_codec_keys=None, followthrough_secrets_key=None)
    assert [(f.level, f.variable) for f in production_faults(settings)] == [
        ("error", "FOLLOWTHROUGH_CODEC_KEYS"),
        ("error", "FOLLOWTHROUGH_SECRETS_KEY"),
    ]
    bad = production(make_settings, followthrough_secrets_key=base64.b64encode(b"short").decode())
    assert [f.variable for f in production_faults(bad)] == ["FOLLOWTHROUGH_SECRETS_KEY"]
    clear = production(make_settings, followthrough_encrypt_payloads=False)
    assert [f.variable for f in production_faults(clear)] == ["FOLLOWTHROUGH_ENCRYPT_PAYLOADS"]


def test_production_creates_no_key_file(make_settings: Callable[..., Settings]) -> None:
    from followthrough.processes.deployments.activities import secrets_key
    from followthrough.temporal.converter import codec_for

    settings = production(make_settings, followthrough_codec_keys=None, followthrough_secrets_key=None)
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_CODEC_KEYS"):
        codec_for(settings)
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_SECRETS_KEY"):
        secrets_key(settings)
    assert not settings.home.exists() or list(settings.home.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:////tmp/ft.db",
        "sqlite:////dev/shm/x.db",
    ],
)
def test_sqlite_on_a_path_that_does_not_persist_is_a_warning(make_settings: Callable[..., Settings], url: str) -> None:
    faults = production_faults(production(make_settings, database_url=url))
    assert [(f.level, f.variable) for f in faults] == [("warning", "DATABASE_URL")]
    assert "will not survive a restart" in faults[0].message


def test_sqlite_on_a_persistent_path_is_fine(make_settings: Callable[..., Settings]) -> None:
    assert production_faults(production(make_settings, database_url="sqlite+aiosqlite:////var/lib/ft/ft.db")) == []
    home = production(make_settings, database_url=None, followthrough_home=Path("/tmp/ft-home"))
    assert [(f.level, f.variable) for f in production_faults(home)] == [("warning", "FOLLOWTHROUGH_HOME")]


def test_the_development_banner_names_the_sandboxes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(stripe_api_key="sk_test_x")
    assert "stripe" not in sandboxed_providers(settings)
    line = sandbox_line(settings)
    assert line.startswith("Sandboxes  whatsapp, calcom, hubspot") and line.count("webhook") == 1
    assert "stripe" not in line


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    keep = {name: os.environ[name] for name in ("PATH", "PYTHONPATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "followthrough.cli", *args],
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_api_refuses_to_start_in_production_naming_each_fault(tmp_path: Path) -> None:
    env = {
        "FOLLOWTHROUGH_ENV": "production",
        "FOLLOWTHROUGH_HOME": str(tmp_path / "home"),
        "FOLLOWTHROUGH_API_KEY": "changeme",
        "DATABASE_URL": "sqlite+aiosqlite:////tmp/followthrough-test.db",
    }
    done = _cli(env, "api")

    assert done.returncode == 2
    err = done.stderr.splitlines()
    assert "error: FOLLOWTHROUGH_PROVIDERS: stripe has no credentials and would silently be a sandbox" in "\n".join(err)
    assert any(line.startswith("error: FOLLOWTHROUGH_API_KEY: is 8 characters") for line in err)
    assert (
        "error: FOLLOWTHROUGH_CODEC_KEYS: is not set (production creates no key file under FOLLOWTHROUGH_HOME)" in err
    )
    assert any(line.startswith("error: FOLLOWTHROUGH_SECRETS_KEY: is not set") for line in err)
    assert any(line.startswith("warning: DATABASE_URL: the SQLite store is under /tmp") for line in err)
    assert err[-1].startswith("refusing to start in production")
    assert "changeme" not in done.stderr  # the key itself is never printed
    assert not (tmp_path / "home").exists()  # nothing created: no key file, no store
