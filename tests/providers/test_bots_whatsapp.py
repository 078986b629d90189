"""The WhatsApp bot client against a local fake of the Cloud API (Graph API): the request each
call sends (method, path, bearer token, body) and the error mapping."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from followthrough.errors import AccountSuspendedError, AuthenticationError, RetryableError, ValidationError
from followthrough.providers.bots import BotPlatforms
from followthrough.providers.bots_whatsapp import PHONE_FIELDS, WhatsAppBots
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealthInput,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
)

GRAPH = "https://graph.fake/v21.0"
TOKEN = "EAAGownerToken"
ACCOUNT = BotAccount(phone_number_id="1065550001", business_account_id="2025550002")
PHONE = {
    "id": "1065550001",
    "display_phone_number": "+1 555 000 1",
    "verified_name": "Acme Support",
    "quality_rating": "GREEN",
    "status": "CONNECTED",
}


def bots(
    http: httpx.AsyncClient, *, token: str | None = None, account: BotAccount | None = None, verify: str | None = None
) -> BotPlatforms:
    """The capability with the WhatsApp client; the defaults play WHATSAPP_* settings."""
    return BotPlatforms(
        {"whatsapp": WhatsAppBots(http, api_version="v21.0", base_url="https://graph.fake")},
        {"whatsapp": token},
        default_accounts={"whatsapp": account or BotAccount()},
        default_webhook_secrets={"whatsapp": verify},
    )


async def test_register_reads_the_phone_number_with_the_bearer_token(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.get(f"{GRAPH}/1065550001").respond(200, json=PHONE)
        identity = await bots(http).register(
            RegisterBotInput(platform="whatsapp", token=TOKEN, account=ACCOUNT, idempotency_key="r")
        )
    assert (identity.platform, identity.bot_id, identity.username) == ("whatsapp", "1065550001", "Acme Support")
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.params["fields"] == PHONE_FIELDS


async def test_set_webhook_subscribes_the_app_to_the_waba_with_a_callback_override(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{GRAPH}/2025550002/subscribed_apps").respond(200, json={"success": True})
        result = await bots(http).set_webhook(
            SetWebhookInput(
                platform="whatsapp",
                token=TOKEN,
                account=ACCOUNT,
                url="https://bots.example/wa",
                secret_token="verify-me",
                idempotency_key="w",
            )
        )
    assert (result.url, result.active) == ("https://bots.example/wa", True)
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "override_callback_uri": "https://bots.example/wa",
        "verify_token": "verify-me",
    }


async def test_health_follows_the_phone_number_status_and_reports_quality(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.get(f"{GRAPH}/1065550001")
        route.side_effect = [
            httpx.Response(200, json=PHONE),
            httpx.Response(200, json={**PHONE, "status": "FLAGGED", "quality_rating": "RED"}),
        ]
        healthy = await bots(http).health(BotHealthInput(platform="whatsapp", token=TOKEN, account=ACCOUNT))
        flagged = await bots(http).health(BotHealthInput(platform="whatsapp", token=TOKEN, account=ACCOUNT))
    assert (healthy.ok, healthy.username, healthy.detail) == (True, "Acme Support", "status CONNECTED, quality GREEN")
    assert (flagged.ok, flagged.detail) == (False, "status FLAGGED, quality RED")
    assert route.calls.last.request.url.params["fields"] == PHONE_FIELDS


async def test_unregister_unsubscribes_the_app_from_the_waba(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.delete(f"{GRAPH}/2025550002/subscribed_apps").respond(200, json={"success": True})
        result = await bots(http).unregister(
            UnregisterBotInput(platform="whatsapp", token=TOKEN, account=ACCOUNT, idempotency_key="u")
        )
    assert result.removed
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_missing_ids_and_verify_token_are_refused_before_any_request(http: httpx.AsyncClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        with pytest.raises(ValidationError, match="phone_number_id"):
            await bots(http).register(RegisterBotInput(platform="whatsapp", token=TOKEN, idempotency_key="r"))
        no_waba = BotAccount(phone_number_id="1065550001")
        with pytest.raises(ValidationError, match="business_account_id"):
            await bots(http).unregister(
                UnregisterBotInput(platform="whatsapp", token=TOKEN, account=no_waba, idempotency_key="u")
            )
        with pytest.raises(ValidationError, match="verify token"):
            await bots(http).set_webhook(
                SetWebhookInput(
                    platform="whatsapp", token=TOKEN, account=ACCOUNT, url="https://b.example/wa", idempotency_key="w"
                )
            )
        assert not mock.calls


async def test_settings_fill_the_default_bot_only(http: httpx.AsyncClient) -> None:
    """WHATSAPP_TOKEN's bot takes the configured ids and verify token; an owner's token does not."""
    client = bots(http, token="EAAGdefault", account=ACCOUNT, verify="settings-verify")
    with respx.mock:
        route = respx.post(f"{GRAPH}/2025550002/subscribed_apps").respond(200, json={"success": True})
        await client.set_webhook(SetWebhookInput(platform="whatsapp", url="https://b.example/wa", idempotency_key="w"))
    assert route.calls.last.request.headers["Authorization"] == "Bearer EAAGdefault"
    assert json.loads(route.calls.last.request.content)["verify_token"] == "settings-verify"
    with pytest.raises(ValidationError, match="business_account_id"):
        await client.set_webhook(
            SetWebhookInput(platform="whatsapp", token=TOKEN, url="https://b.example/wa", idempotency_key="w")
        )


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (401, {"error": {"message": "Invalid OAuth access token", "code": 190}}, AuthenticationError),
        (400, {"error": {"message": "Application request limit reached", "code": 4}}, RetryableError),
        (
            403,
            {"error": {"message": "Temporarily blocked for policies violations", "code": 368}},
            AccountSuspendedError,
        ),
        (404, {"error": {"message": "Unsupported get request", "code": 100}}, ValidationError),
        (500, {"error": {"message": "An unexpected error has occurred", "code": 2}}, RetryableError),
    ],
)
async def test_graph_errors_map_to_the_error_classes(
    http: httpx.AsyncClient, status: int, body: dict[str, object], error_class: type[Exception]
) -> None:
    with respx.mock:
        respx.get(f"{GRAPH}/1065550001").respond(status, json=body)
        with pytest.raises(error_class) as info:
            await bots(http).health(BotHealthInput(platform="whatsapp", token=TOKEN, account=ACCOUNT))
    assert type(info.value) is error_class


def test_account_ids_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="phone_number_id"):
        BotAccount(phone_number_id="../../me/accounts")
