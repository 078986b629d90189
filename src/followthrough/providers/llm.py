"""LLM: an OpenAI-compatible chat-completions server through the official ``openai`` SDK.

* :class:`OpenAIChat` — ``chat.completions.create`` with a system and a user message; the base
  URL is configurable (``OPENAI_BASE_URL``: OpenAI, Azure-compatible gateways, a local vLLM or
  Ollama server). The SDK's retries are off (Temporal retries); its errors are mapped by status.
  Tests inject ``http_client=`` (the SDK's ``httpx2.AsyncClient`` with a mock transport).
* :class:`SandboxLLM` — a deterministic, clearly-marked text built from the prompt; asked for a
  JSON ``score`` (a grader's system prompt, as the content pipeline's rubric is), a deterministic
  grade instead (:func:`sandbox_grade`), so automatic review approves and rejects on the sandbox.

The sandbox grader's rule, all it looks at: the text graded is what follows the prompt's first
line ``Draft:`` (the whole prompt without one), the brief is what precedes it.

* **bad** (score 20–39): the prompt contains :data:`SANDBOX_REJECT_MARKER` (``sandbox:reject``,
  e.g. in a content brief's topic), or the graded text has fewer than
  :data:`SANDBOX_MIN_WORDS` words (empty or a stub);
* **good** (score 80–99) otherwise.

The score within its band comes from a hash of the brief, so the same brief always gets the
same score (the default content threshold, 70, approves every good draft and no bad one).
"""

from __future__ import annotations

import hashlib
import json
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


#: A prompt carrying this (any case) is graded bad by the sandbox grader.
SANDBOX_REJECT_MARKER = "sandbox:reject"
#: A graded text of fewer words than this is graded bad by the sandbox grader.
SANDBOX_MIN_WORDS = 8


def asks_for_a_score(system: str) -> bool:
    """A grader's request: its system prompt asks for a JSON answer with a ``score``."""
    return '"score"' in system and "json" in system.lower()


def sandbox_grade(prompt: str) -> tuple[int, str]:
    """(score 0–100, notes) for a grading prompt: see the module docstring for the rule."""
    brief, found, graded = prompt.partition("\nDraft:\n")
    if not found:
        brief, graded = prompt, prompt
    band = int.from_bytes(hashlib.sha256(brief.encode()).digest()[:4], "big") % 20
    if SANDBOX_REJECT_MARKER in prompt.lower():
        return 20 + band, f"[sandbox rubric] rejected: the brief carries {SANDBOX_REJECT_MARKER!r}"
    words = len(graded.split())
    if words < SANDBOX_MIN_WORDS:
        return 20 + band, f"[sandbox rubric] rejected: {words} words, fewer than {SANDBOX_MIN_WORDS}"
    return 80 + band, "[sandbox rubric] fits the brief"


class SandboxLLM:
    name = "openai"

    def __init__(self, sandbox: Sandbox, *, model: str = "sandbox") -> None:
        self._sandbox = sandbox
        self._model = model

    async def complete(self, input: CompleteInput) -> CompleteResult:
        self._sandbox.enter(self.name, "complete", input.idempotency_key, input.model_dump(mode="json"))
        prompt_tokens = len((input.system + " " + input.prompt).split())
        if asks_for_a_score(input.system):
            score, notes = sandbox_grade(input.prompt)
            text = json.dumps({"score": score, "notes": notes})
            return CompleteResult(
                text=text,
                model=input.model or self._model,
                prompt_tokens=prompt_tokens,
                completion_tokens=len(text.split()),
            )
        words = input.prompt.split()
        summary = " ".join(words[:40]) + (" …" if len(words) > 40 else "")
        return CompleteResult(
            text=f"[sandbox completion] {summary}",
            model=input.model or self._model,
            prompt_tokens=prompt_tokens,
            completion_tokens=min(len(words), 40) + 2,
        )
