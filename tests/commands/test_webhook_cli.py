"""`followthrough webhook send`: each provider's signed delivery is accepted by the real app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from typer.testing import CliRunner, Result

from followthrough.catalog import create_app
from followthrough.cli import app
from followthrough.services import Services
from tests.conftest import serving

SECRETS = {
    "WHATSAPP_APP_SECRET": "wa-secret",
    "STRIPE_WEBHOOK_SECRET": "whsec_cli",
    "CALCOM_WEBHOOK_SECRET": "cal-secret",
    "SLACK_SIGNING_SECRET": "slack-secret",
    "UNIPILE_WEBHOOK_SECRET": "unipile-secret",
}


@pytest.fixture
async def api_url(dev_client: Client, services: Services, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The real app, holding the secrets, behind uvicorn on 127.0.0.1; the CLI's env holds them too."""
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = services.settings.model_copy(update={k.lower(): SecretStr(v) for k, v in SECRETS.items()})
    async with serving(create_app(settings, api_key="k" * 40, services=services, client=dev_client)) as url:
        yield url


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


@pytest.mark.parametrize(
    ("provider", "fields", "expected"),
    [
        ("whatsapp", ["text=hola"], "new"),
        ("stripe", ["type=invoice.paid"], "ignored"),
        ("calcom", ["trigger=BOOKING_CANCELLED"], "ignored"),
        ("slack", ["challenge=abc"], "challenge"),
        ("unipile", ["from=ACoAABnobody"], "leads"),
    ],
)
async def test_each_providers_delivery_is_accepted_by_the_app(
    api_url: str, provider: str, fields: list[str], expected: str
) -> None:
    result = await invoke("webhook", "send", provider, *fields, "--to", api_url)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["status"] == 200 and expected in answer["answer"], answer


async def test_a_delivery_signed_with_another_secret_is_one_line_and_exit_1(
    api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_other")
    result = await invoke("webhook", "send", "stripe", "--to", api_url)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {api_url}/webhook/stripe answered 403")
    assert len(result.output.strip().splitlines()) == 1


async def test_an_unknown_field_or_a_missing_secret_is_a_usage_error(
    api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await invoke("webhook", "send", "slack", "colour=red", "--to", api_url)
    assert result.exit_code == 2 and "slack has no field colour" in result.output
    monkeypatch.delenv("UNIPILE_WEBHOOK_SECRET")
    result = await invoke("webhook", "send", "unipile", "--to", api_url)
    assert result.exit_code == 2 and "UNIPILE_WEBHOOK_SECRET is not set" in result.output
