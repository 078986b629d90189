"""The OpenAI-compatible client (official SDK) with a mock transport given as ``http_client``."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.contracts.llm import CompleteInput
from followthrough.providers.llm import OpenAIChat

BASE = "http://llm.fake/v1"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "local-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Resumen: quiere demo"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}


def chat(handler: Callable[[httpx2.Request], httpx2.Response]) -> OpenAIChat:
    return OpenAIChat(
        api_key="sk-local",
        model="local-model",
        base_url=BASE,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


async def test_completion_request() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=COMPLETION)

    result = await chat(handler).complete(
        CompleteInput(system="Resume.", prompt="Hola, quiero una demo", max_tokens=50)
    )
    assert result.text == "Resumen: quiere demo"
    assert (result.prompt_tokens, result.completion_tokens) == (12, 4)
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/v1/chat/completions")
    assert request.headers["Authorization"] == "Bearer sk-local"
    body = json.loads(request.content)
    assert body["model"] == "local-model"
    assert body["max_tokens"] == 50
    assert body["messages"] == [
        {"role": "system", "content": "Resume."},
        {"role": "user", "content": "Hola, quiero una demo"},
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (404, ValidationError),
        (429, RetryableError),
        (500, RetryableError),
    ],
)
async def test_status_mapping(status: int, expected: type[Exception]) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"error": {"message": f"fake {status}"}}, headers={"retry-after": "3"})

    with pytest.raises(expected) as info:
        await chat(handler).complete(CompleteInput(prompt="x"))
    assert type(info.value) is expected
    if status == 429:
        assert info.value.retry_after == 3.0  # type: ignore[attr-defined]


async def test_timeout_is_retryable() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow model", request=request)

    with pytest.raises(RetryableError):
        await chat(handler).complete(CompleteInput(prompt="x"))
