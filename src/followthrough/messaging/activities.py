"""Messaging activities (WhatsApp): ``messaging.send``, once per idempotency key, under
WhatsApp's 24-hour customer-service window. Light to import (workflows name these activities):
the provider and the store load when the worker builds the class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from followthrough.errors import OutsideCustomerServiceWindow
from followthrough.providers.calls import attempt_time, provider_call
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.providers.idempotency import idempotent

if TYPE_CHECKING:
    from followthrough.services import Services


class MessagingActivities:
    def __init__(self, services: Services) -> None:
        # The provider (httpx) and the store (SQLAlchemy) load with the worker, not with the
        # workflows that name these activities.
        from followthrough.providers.contracts.templates import parse_whatsapp_templates
        from followthrough.providers.messaging import SANDBOX_TEMPLATES, SandboxMessaging
        from followthrough.store.repositories import Leads

        self._providers = services.providers
        self._leads = Leads(services.database)
        raw = services.settings.whatsapp_templates
        sandboxed = isinstance(services.providers.messaging, SandboxMessaging)
        # Unset on the sandbox: its own templates, so the default stack sends cold follow-ups.
        self._templates = SANDBOX_TEMPLATES if sandboxed and not raw.strip() else parse_whatsapp_templates(raw)

    @activity.defn(name="messaging.send")
    async def send(self, input: SendMessageInput) -> SendMessageResult:
        """Send once per key. A catalog text to a lead goes out as text inside the lead's 24-hour
        window and as its approved template (``WHATSAPP_TEMPLATES``) outside it; with no template
        it fails for good before anything is sent. The outbox records what actually went out."""
        from followthrough.providers.messaging import for_customer_service_window

        provider = self._providers.messaging
        with provider_call():
            lead_id = input.catalog.lead_id if input.catalog is not None and input.template is None else None
            last_inbound_at = await self._leads.last_inbound_at(lead_id) if lead_id is not None else None
            try:
                outgoing = for_customer_service_window(
                    input, self._templates, last_inbound_at=last_inbound_at, now=attempt_time()
                )
            except OutsideCustomerServiceWindow:
                # An earlier attempt may have sent it while the window was open: that stands.
                earlier = await self._providers.outbox.get(input.idempotency_key)
                if earlier is not None and earlier.status == "sent":
                    return SendMessageResult.model_validate(earlier.response or {})
                raise
            return await idempotent(
                self._providers.outbox,
                provider=provider.name,
                operation="send",
                key=outgoing.idempotency_key,
                request=outgoing,
                result_type=SendMessageResult,
                call=lambda: provider.send(outgoing),
            )
