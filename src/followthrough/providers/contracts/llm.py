"""Inputs and results of the LLM capability (an OpenAI-compatible chat-completions server)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CompleteInput(BaseModel):
    """One completion: a system prompt and a user prompt. With an ``idempotency_key`` the text
    is recorded in the outbox and a retry returns it instead of asking (and paying) again."""

    system: str = Field(default="", max_length=100_000)
    prompt: str = Field(min_length=1, max_length=400_000)
    model: str | None = Field(default=None, description="unset = OPENAI_MODEL")
    max_tokens: int | None = Field(default=None, gt=0, le=100_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class CompleteResult(BaseModel):
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
