"""Messaging activities (WhatsApp): ``messaging.send``, once per idempotency key."""

from __future__ import annotations

from temporalio import activity

from followthrough.providers.calls import provider_call
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.providers.idempotency import idempotent
from followthrough.providers.messaging import parse_whatsapp_templates, with_approved_template
from followthrough.services import Services


class MessagingActivities:
    def __init__(self, services: Services) -> None:
        self._providers = services.providers
        self._templates = parse_whatsapp_templates(services.settings.whatsapp_templates)

    @activity.defn(name="messaging.send")
    async def send(self, input: SendMessageInput) -> SendMessageResult:
        """Send once per key; a catalog text mapped in ``WHATSAPP_TEMPLATES`` goes out as its
        approved template (the outbox records what was actually sent)."""
        provider = self._providers.messaging
        input = with_approved_template(input, self._templates)
        with provider_call():
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="send",
                key=input.idempotency_key,
                request=input,
                result_type=SendMessageResult,
                call=lambda: provider.send(input),
            )
