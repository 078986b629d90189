"""The Slack bot client against a local fake of the Web API: the request each method sends and
the mapping of Slack's ``ok: false`` answers (HTTP 200!) to the error classes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from followthrough.errors import (
    AccountSuspendedError,
    AuthenticationError,
    FollowthroughError,
    InvalidCredentialsError,
    RetryableError,
    ValidationError,
)
from followthrough.providers.bots import BotPlatforms
from followthrough.providers.bots_slack import SlackBots
from followthrough.providers.contracts.bots import (
    BotAccount,
    BotHealthInput,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
)

SLACK = "https://slack.fake/api"
TOKEN = "xoxb-1111-2222-abcdefghijkl"
CONFIG_TOKEN = "xoxe.xoxp-1-configtoken"
APP = BotAccount(app_id="A0APP12345", app_config_token=CONFIG_TOKEN)
AUTH_TEST = {
    "ok": True,
    "url": "https://acme.slack.com/",
    "team": "Acme",
    "user": "helper",
    "team_id": "T123",
    "user_id": "U123",
    "bot_id": "B123",
}


def bots(http: httpx.AsyncClient, default: str | None = None) -> BotPlatforms:
    return BotPlatforms({"slack": SlackBots(http, base_url=SLACK)}, {"slack": default})


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_register_calls_auth_test_with_the_bearer_token(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.test").respond(200, json=AUTH_TEST)
        identity = await bots(http).register(RegisterBotInput(platform="slack", token=TOKEN, idempotency_key="r"))
    assert (identity.platform, identity.bot_id, identity.username) == ("slack", "B123", "helper")
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.content.decode()  # the token travels in the header only


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("invalid_auth", AuthenticationError),
        ("not_authed", AuthenticationError),
        ("token_revoked", AuthenticationError),
        ("account_inactive", AccountSuspendedError),
        ("missing_scope", InvalidCredentialsError),
        ("internal_error", RetryableError),
        ("invalid_arguments", ValidationError),
    ],
)
async def test_ok_false_on_http_200_maps_to_the_error_class(
    http: httpx.AsyncClient, code: str, error_class: type[FollowthroughError]
) -> None:
    with respx.mock:
        respx.post(f"{SLACK}/auth.test").respond(200, json={"ok": False, "error": code})
        with pytest.raises(error_class, match=code) as info:
            await bots(http).register(RegisterBotInput(platform="slack", token=TOKEN, idempotency_key="r"))
    assert type(info.value) is error_class


async def test_ratelimited_honours_retry_after_on_200_and_on_429(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.test")
        route.side_effect = [
            httpx.Response(200, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "7"}),
            httpx.Response(429, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"}),
        ]
        for expected in (7.0, 30.0):
            with pytest.raises(RetryableError) as info:
                await bots(http).health(BotHealthInput(platform="slack", token=TOKEN))
            assert info.value.retry_after == expected


async def test_server_errors_and_timeouts_are_retryable(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.test")
        route.side_effect = [httpx.Response(503, text="down"), httpx.ReadTimeout("slow")]
        with pytest.raises(RetryableError, match="503"):
            await bots(http).health(BotHealthInput(platform="slack", token=TOKEN))
        with pytest.raises(RetryableError, match="timed out"):
            await bots(http).health(BotHealthInput(platform="slack", token=TOKEN))


async def test_health_is_auth_test_ok(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.test").respond(200, json=AUTH_TEST)
        health = await bots(http).health(BotHealthInput(platform="slack", token=TOKEN))
    assert (health.ok, health.username, health.webhook_url) == (True, "helper", None)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_unregister_revokes_the_token(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.revoke").respond(200, json={"ok": True, "revoked": True})
        result = await bots(http).unregister(UnregisterBotInput(platform="slack", token=TOKEN, idempotency_key="u"))
    assert result.removed
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_set_webhook_without_an_app_config_token_calls_nothing_and_names_the_manual_step(
    http: httpx.AsyncClient,
) -> None:
    with respx.mock(assert_all_called=False) as mock:  # any request would be unmatched and fail
        result = await bots(http).set_webhook(
            SetWebhookInput(platform="slack", token=TOKEN, url="https://bots.example/slack", idempotency_key="w")
        )
        assert not mock.calls
    assert (result.url, result.active) == (None, False)
    assert result.manual_step_required is not None
    assert "https://bots.example/slack" in result.manual_step_required
    assert "Event Subscriptions" in result.manual_step_required and "app_config_token" in result.manual_step_required


async def test_set_webhook_rewrites_the_manifest_event_url_keeping_the_rest(http: httpx.AsyncClient) -> None:
    manifest = {
        "display_information": {"name": "Helper"},
        "features": {"bot_user": {"display_name": "helper"}},
        "settings": {
            "event_subscriptions": {"request_url": "https://old.example/slack", "bot_events": ["app_mention"]}
        },
    }
    with respx.mock:
        export = respx.post(f"{SLACK}/apps.manifest.export").respond(200, json={"ok": True, "manifest": manifest})
        update = respx.post(f"{SLACK}/apps.manifest.update").respond(
            200, json={"ok": True, "app_id": "A0APP12345", "permissions_updated": False}
        )
        result = await bots(http).set_webhook(
            SetWebhookInput(
                platform="slack", token=TOKEN, account=APP, url="https://bots.example/slack", idempotency_key="w"
            )
        )
    assert (result.url, result.active, result.manual_step_required) == ("https://bots.example/slack", True, None)
    for route in (export, update):  # the manifest API takes the configuration token, not the bot's
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {CONFIG_TOKEN}"
        assert route.calls.last.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(export.calls.last.request) == {"app_id": "A0APP12345"}
    sent = form(update.calls.last.request)
    assert sent["app_id"] == "A0APP12345"
    written = json.loads(sent["manifest"])  # a JSON manifest encoded as a string, as Slack requires
    assert written["settings"]["event_subscriptions"] == {
        "request_url": "https://bots.example/slack",
        "bot_events": ["app_mention"],
    }
    assert written["display_information"] == {"name": "Helper"} and written["features"] == manifest["features"]


async def test_an_invalid_manifest_is_a_validation_error_with_slacks_reasons(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.post(f"{SLACK}/apps.manifest.export").respond(200, json={"ok": True, "manifest": {"settings": {}}})
        respx.post(f"{SLACK}/apps.manifest.update").respond(
            200,
            json={
                "ok": False,
                "error": "invalid_manifest",
                "errors": [{"message": "Interactivity requires a Request URL", "pointer": "/settings/interactivity"}],
            },
        )
        with pytest.raises(ValidationError, match="invalid_manifest.*/settings/interactivity"):
            await bots(http).set_webhook(
                SetWebhookInput(
                    platform="slack", token=TOKEN, account=APP, url="https://bots.example/s", idempotency_key="w"
                )
            )


async def test_the_default_token_is_used_and_its_absence_named(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{SLACK}/auth.test").respond(200, json=AUTH_TEST)
        await bots(http, default="xoxb-default-token").health(BotHealthInput(platform="slack"))
    assert route.calls.last.request.headers["Authorization"] == "Bearer xoxb-default-token"
    with pytest.raises(ValidationError, match="SLACK_BOT_TOKEN"):
        await bots(http).health(BotHealthInput(platform="slack"))


def test_the_outbox_record_masks_the_app_config_token() -> None:
    recorded = SetWebhookInput(
        platform="slack", token=TOKEN, account=APP, url="https://bots.example/s", idempotency_key="w"
    ).redacted()
    assert TOKEN not in json.dumps(recorded) and CONFIG_TOKEN not in json.dumps(recorded)
    assert recorded["account"] == {"app_id": "A0APP12345", "app_config_token": "***"}
