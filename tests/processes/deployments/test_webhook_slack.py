"""Slack events webhook: the url_verification challenge, signatures refused like the other
webhooks (401 missing, 403 forged or stale), event callbacks acknowledged without Temporal."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.temporal.devserver import free_port

SLACK_SECRET = "slack-signing-secret"


def slack_headers(body: bytes, secret: str = SLACK_SECRET, at: int | None = None) -> dict[str, str]:
    ts = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": ts, "Content-Type": "application/json"}


def challenge_body(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> bytes:
    return json.dumps({"token": "legacy", "challenge": challenge, "type": "url_verification"}).encode()


def event_body(event_id: str = "Ev0PV52K21") -> bytes:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_mention", "user": "U0001", "text": "<@U0BOT> hola", "channel": "C0001"},
        }
    ).encode()


async def _http(services: Services, **overrides: Any) -> httpx.AsyncClient:
    # Temporal points at a port nobody listens on: a route that tried to reach it would fail.
    settings = services.settings.model_copy(
        update={"slack_signing_secret": SecretStr(SLACK_SECRET), "temporal_address": f"127.0.0.1:{free_port()}"}
        | overrides
    )
    app = create_app(settings, api_key="k", services=services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with await _http(services) as client:
        yield client


async def test_slack_url_verification_is_answered_with_its_challenge(http: httpx.AsyncClient) -> None:
    body = challenge_body("abc123-challenge")
    response = await http.post("/webhook/slack", content=body, headers=slack_headers(body))
    assert response.status_code == 200
    assert response.json() == {"challenge": "abc123-challenge"}


async def test_slack_event_callback_is_acknowledged_without_temporal(http: httpx.AsyncClient) -> None:
    body = event_body("Ev123")
    response = await http.post("/webhook/slack", content=body, headers=slack_headers(body))
    assert response.status_code == 200
    assert response.json() == {"acknowledged": "app_mention", "event_id": "Ev123"}


async def test_slack_other_envelopes_are_acknowledged_as_ignored(http: httpx.AsyncClient) -> None:
    body = json.dumps({"type": "app_rate_limited", "minute_rate_limited": 1518467820}).encode()
    response = await http.post("/webhook/slack", content=body, headers=slack_headers(body))
    assert (response.status_code, response.json()) == (200, {"ignored": "app_rate_limited"})


@pytest.mark.parametrize("body", [challenge_body(), event_body()])
async def test_slack_refuses_unsigned_forged_and_stale_requests(http: httpx.AsyncClient, body: bytes) -> None:
    assert (await http.post("/webhook/slack", content=body)).status_code == 401
    forged = slack_headers(body, secret="someone-else")
    assert (await http.post("/webhook/slack", content=body, headers=forged)).status_code == 403
    other_body = slack_headers(body.replace(b"legacy", b"tampered"))
    assert (await http.post("/webhook/slack", content=body, headers=other_body)).status_code == 403
    stale = slack_headers(body, at=int(time.time()) - 301)
    assert (await http.post("/webhook/slack", content=body, headers=stale)).status_code == 403
    no_timestamp = {k: v for k, v in slack_headers(body).items() if k != "X-Slack-Request-Timestamp"}
    assert (await http.post("/webhook/slack", content=body, headers=no_timestamp)).status_code == 403


async def test_slack_signed_garbage_is_400_not_500(http: httpx.AsyncClient) -> None:
    for body in (b"not json", b"[1, 2]", json.dumps({"type": "url_verification"}).encode()):
        response = await http.post("/webhook/slack", content=body, headers=slack_headers(body))
        assert response.status_code == 400, body


async def test_slack_without_a_signing_secret_refuses_everything(services: Services) -> None:
    body = challenge_body()
    async with await _http(services, slack_signing_secret=None) as http:
        response = await http.post("/webhook/slack", content=body, headers=slack_headers(body))
    assert response.status_code == 403
    assert "SLACK_SIGNING_SECRET" in response.text
