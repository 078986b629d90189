"""LLM: an OpenAI-compatible chat-completions server through the official ``openai`` SDK.

* :class:`OpenAIChat` — ``chat.completions.create`` with a system and a user message; the base
  URL is configurable (``OPENAI_BASE_URL``: OpenAI, Azure-compatible gateways, a local vLLM or
  Ollama server). The SDK's retries are off (Temporal retries); its errors are mapped by status.
  Tests inject ``http_client=`` (the SDK's ``httpx2.AsyncClient`` with a mock transport).
* :class:`SandboxLLM` — a deterministic, clearly-marked text built from the prompt.
"""

from __future__ import annotations

from typing import Any, Protocol

import openai

from followthrough.errors import FollowthroughError, RetryableError, ValidationError
from followthrough.providers.contracts.llm import CompleteInput, CompleteResult
from followthrough.providers.http import error_for_status, parse_body, provider_message
from followthrough.providers.sandbox import Sandbox


class LLMProvider(Protocol):
    name: str

    async def complete(self, input: CompleteInput) -> CompleteResult: ...


def openai_error(exc: openai.OpenAIError) -> FollowthroughError:
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return RetryableError(f"openai could not be reached: {exc}", provider="openai")
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        body = parse_body(response.text)
        return error_for_status(
            "openai", response.status_code, provider_message(body, exc.message), dict(response.headers), body
        )
    return ValidationError(f"openai: {exc}", provider="openai")


class OpenAIChat:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        http_client: Any | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"api_key": api_key, "timeout": timeout, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._client = openai.AsyncOpenAI(**kwargs)
        self._model = model

    async def complete(self, input: CompleteInput) -> CompleteResult:
        messages: list[dict[str, str]] = []
        if input.system:
            messages.append({"role": "system", "content": input.system})
        messages.append({"role": "user", "content": input.prompt})
        kwargs: dict[str, Any] = {"model": input.model or self._model, "messages": messages}
        if input.max_tokens is not None:
            kwargs["max_tokens"] = input.max_tokens
        if input.temperature is not None:
            kwargs["temperature"] = input.temperature
        try:
            completion = await self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        if not completion.choices:
            raise RetryableError("openai answered no choices", provider=self.name)
        usage = completion.usage
        return CompleteResult(
            text=completion.choices[0].message.content or "",
            model=completion.model,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def health(self) -> str:
        try:
            models = await self._client.models.list()
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        return f"openai-compatible, {len(models.data)} models"

    async def aclose(self) -> None:
        await self._client.close()


class SandboxLLM:
    name = "openai"

    def __init__(self, sandbox: Sandbox, *, model: str = "sandbox") -> None:
        self._sandbox = sandbox
        self._model = model

    async def complete(self, input: CompleteInput) -> CompleteResult:
        self._sandbox.enter(self.name, "complete", input.idempotency_key, input.model_dump(mode="json"))
        words = input.prompt.split()
        summary = " ".join(words[:40]) + (" …" if len(words) > 40 else "")
        return CompleteResult(
            text=f"[sandbox completion] {summary}",
            model=input.model or self._model,
            prompt_tokens=len((input.system + " " + input.prompt).split()),
            completion_tokens=min(len(words), 40) + 2,
        )
