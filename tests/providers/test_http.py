"""The HTTP-outcome -> error-class rules, in the one place every real client uses."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import respx

from followthrough.errors import (
    AccountSuspendedError,
    AuthenticationError,
    InvalidCredentialsError,
    RetryableError,
    ValidationError,
)
from followthrough.providers.http import error_for_status, graph_api_classifier, parse_retry_after, send_json

URL = "https://api.example.test/thing"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"message": "bad field"}, ValidationError),
        (404, {"detail": "no such thing"}, ValidationError),
        (409, {"message": "exists"}, ValidationError),
        (422, {"error": {"message": "unprocessable"}}, ValidationError),
        (401, {"message": "no"}, AuthenticationError),
        (403, {"message": "forbidden"}, InvalidCredentialsError),
        (403, {"message": "Your account has been suspended"}, AccountSuspendedError),
        (403, {"error": {"message": "account restricted"}}, AccountSuspendedError),
        (408, {}, RetryableError),
        (429, {"message": "slow down"}, RetryableError),
        (500, {}, RetryableError),
        (502, {}, RetryableError),
        (503, {}, RetryableError),
    ],
)
async def test_status_maps_to_error_class(
    http: httpx.AsyncClient, status: int, body: dict[str, object], expected: type[Exception]
) -> None:
    with respx.mock:
        respx.get(URL).respond(status, json=body)
        with pytest.raises(expected) as info:
            await send_json(http, "example", "GET", URL)
    assert type(info.value) is expected
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.provider == "example"  # type: ignore[attr-defined]


async def test_validation_error_carries_the_providers_message(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(URL).respond(400, json={"error": {"message": "Invalid parameter: to"}})
        with pytest.raises(ValidationError, match="Invalid parameter: to"):
            await send_json(http, "example", "GET", URL)


async def test_429_honours_retry_after_seconds(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(URL).respond(429, headers={"Retry-After": "17"})
        with pytest.raises(RetryableError) as info:
            await send_json(http, "example", "GET", URL)
    assert info.value.retry_after == 17.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("garbage", now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("fault", [httpx.ConnectTimeout("t"), httpx.ReadTimeout("t"), httpx.ConnectError("refused")])
async def test_transport_faults_are_retryable(http: httpx.AsyncClient, fault: Exception) -> None:
    with respx.mock:
        respx.get(URL).mock(side_effect=fault)
        with pytest.raises(RetryableError):
            await send_json(http, "example", "GET", URL)


async def test_success_returns_json(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(URL).respond(200, json={"ok": 1})
        assert await send_json(http, "example", "GET", URL) == {"ok": 1}


def test_graph_api_codes_decide_before_the_status() -> None:
    classify = graph_api_classifier("whatsapp")

    def err(code: int) -> Exception:
        return error_for_status("whatsapp", 400, "m", {}, {"error": {"code": code}}, classify)

    assert type(err(190)) is AuthenticationError
    assert type(err(130429)) is RetryableError
    assert type(err(131031)) is AccountSuspendedError
    assert type(err(10)) is InvalidCredentialsError
    assert type(err(100)) is ValidationError  # unknown code: the status decides
