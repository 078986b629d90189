"""Bot-platform activities (Discord, Telegram, Slack, WhatsApp): register/verify a token, set the
webhook, health-check, unregister. Writes are once per idempotency key; tokens (and a Slack app
configuration token in ``account``) are masked in the outbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.bots import (
    BotHealth,
    BotHealthInput,
    BotIdentity,
    RegisterBotInput,
    SetWebhookInput,
    UnregisterBotInput,
    UnregisterResult,
    WebhookResult,
)
from followthrough.providers.idempotency import idempotent
from followthrough.services import Services

R = TypeVar("R", bound=BaseModel)


class BotsActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers

    async def _once(
        self,
        operation: str,
        input: RegisterBotInput | SetWebhookInput | UnregisterBotInput,
        result_type: type[R],
        call: Callable[[], Awaitable[R]],
    ) -> R:
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=input.platform,
                operation=operation,
                key=input.idempotency_key,
                request=input.redacted(),
                result_type=result_type,
                call=call,
            )

    @activity.defn(name="bots.register")
    async def register(self, input: RegisterBotInput) -> BotIdentity:
        bots = self._providers.bots
        return await self._once("register", input, BotIdentity, lambda: bots.register(input))

    @activity.defn(name="bots.set_webhook")
    async def set_webhook(self, input: SetWebhookInput) -> WebhookResult:
        bots = self._providers.bots
        return await self._once("set_webhook", input, WebhookResult, lambda: bots.set_webhook(input))

    @activity.defn(name="bots.health")
    async def health(self, input: BotHealthInput) -> BotHealth:
        with provider_call():
            return await self._providers.bots.health(input)

    @activity.defn(name="bots.unregister")
    async def unregister(self, input: UnregisterBotInput) -> UnregisterResult:
        bots = self._providers.bots
        return await self._once("unregister", input, UnregisterResult, lambda: bots.unregister(input))
