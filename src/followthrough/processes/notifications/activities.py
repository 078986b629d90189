"""Notification activities: the delivery records, and delivery by email and by webhook.

WhatsApp delivery is the messaging capability's ``messaging.send``. Each send here goes through
the outbox under ``notification:{id}:{channel}`` (a retried or replayed send returns the
recorded receipt without calling the provider again) and passes the same key to the provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from temporalio import activity

from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.notifications.rules import (
    CreateNotificationInput,
    DeliverInput,
    DeliveryReceipt,
    FinishNotificationInput,
    RecordDeliveryInput,
)
from followthrough.services import Services

if TYPE_CHECKING:
    import httpx

    from followthrough.providers.email import EmailProvider
    from followthrough.providers.sandbox import Sandbox
    from followthrough.providers.urls import UrlGuard
    from followthrough.providers.webhook_delivery import WebhookDeliveryProvider

R = TypeVar("R", bound=BaseModel)

#: Opens the HTTP client of the real email provider (called only when it is real).
HttpFactory = Callable[[], "httpx.AsyncClient"]
#: Opens the HTTP client for users' URLs, guarded by a :class:`UrlGuard` (the real webhook provider).
GuardedHttpFactory = Callable[["UrlGuard"], "httpx.AsyncClient"]


def email_provider(services: Services, http: HttpFactory, sandbox: Sandbox) -> EmailProvider:
    from followthrough.providers.email import ResendEmail, SandboxEmail
    from followthrough.providers.factory import MissingCredentials

    settings = services.settings
    if services.providers.modes.get("email") == "real":
        if settings.email_api_key is None:
            raise MissingCredentials("configuration error: email is set to real but EMAIL_API_KEY is not set")
        return ResendEmail(
            http(),
            api_key=settings.email_api_key.get_secret_value(),
            sender=settings.email_from,
            base_url=settings.email_api_base,
        )
    return SandboxEmail(sandbox)


def webhook_provider(services: Services, http: GuardedHttpFactory, sandbox: Sandbox) -> WebhookDeliveryProvider:
    """Webhooks go to users' URLs: checked before the call, and dialled by a client that
    connects only to the address it vetted (:mod:`followthrough.providers.guarded_http`).
    The operator's own hosts (the allow-list, ``NOTIFICATION_WEBHOOK_URL``) are let through."""
    from followthrough.providers.urls import UrlGuard, operator_hosts
    from followthrough.providers.webhook_delivery import HttpWebhookDelivery, SandboxWebhookDelivery

    settings = services.settings
    if settings.webhook_delivery_provider == "http":
        secret = settings.notification_webhook_secret
        guard = UrlGuard(settings.allowed_callback_hosts | operator_hosts(settings.notification_webhook_url))
        return HttpWebhookDelivery(http(guard), secret=secret.get_secret_value() if secret else None, guard=guard)
    return SandboxWebhookDelivery(sandbox)


class NotificationActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.outbox import Outbox
        from followthrough.store.repositories.notifications import Notifications

        self._services = services
        self._outbox = Outbox(services.database)
        self._notifications = Notifications(services.database)
        #: Opened only for a real email provider, and closed with the services.
        self._http: httpx.AsyncClient | None = None
        sandbox = services.providers.sandbox  # honours FOLLOWTHROUGH_SANDBOX_FAULTS (email.send, webhook.deliver)
        #: The providers; tests replace them.
        self.email: EmailProvider = email_provider(services, self._client, sandbox)
        self.webhooks: WebhookDeliveryProvider = webhook_provider(services, self._guarded_client, sandbox)

    def _client(self) -> httpx.AsyncClient:
        """The HTTP client of the real email provider: opened on first need, and closed by
        ``Services.close()`` (the worker and the API close their services on the way out)."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0))
            self._services.on_close(self._http.aclose)
        return self._http

    def _guarded_client(self, guard: UrlGuard) -> httpx.AsyncClient:
        """A client for users' URLs (the webhook provider's own), closed with the services."""
        import httpx

        from followthrough.providers.guarded_http import guarded_client

        client = guarded_client(guard, timeout=httpx.Timeout(20.0, connect=5.0))
        self._services.on_close(client.aclose)
        return client

    @activity.defn(name="notifications.create")
    async def create(self, input: CreateNotificationInput) -> None:
        """The notification and one pending delivery row per channel (a retry finds them)."""
        await self._notifications.open(
            input.notification_id,
            user_id=input.user_id,
            type=input.type,
            message=input.message,
            channels=input.channels,
            workflow_id=input.workflow_id,
        )

    @activity.defn(name="notifications.send_email")
    async def send_email(self, input: DeliverInput) -> DeliveryReceipt:
        from followthrough.providers.email import EmailMessage, EmailReceipt

        with as_temporal_errors():
            if not input.to:
                raise ValidationError("no email address for this user")
            message = EmailMessage(
                to=input.to, subject=input.subject, text=input.message, idempotency_key=input.idempotency_key
            )
            receipt = await self._deliver(
                input, "email", "send", message, EmailReceipt, lambda: self.email.send(message)
            )
        return DeliveryReceipt(message_id=receipt.message_id)

    @activity.defn(name="notifications.send_webhook")
    async def send_webhook(self, input: DeliverInput) -> DeliveryReceipt:
        from followthrough.providers.webhook_delivery import WebhookDelivery, WebhookReceipt

        with as_temporal_errors():
            url = input.to or self._services.settings.notification_webhook_url
            if not url:
                raise ValidationError("no webhook URL for this user and NOTIFICATION_WEBHOOK_URL is not set")
            payload: dict[str, Any] = {
                "notification_id": input.notification_id,
                "user_id": input.user_id,
                "type": input.type,
                "subject": input.subject,
                "message": input.message,
            }
            delivery = WebhookDelivery(url=url, payload=payload, idempotency_key=input.idempotency_key)
            receipt = await self._deliver(
                input, "webhook", "deliver", delivery, WebhookReceipt, lambda: self.webhooks.deliver(delivery)
            )
        return DeliveryReceipt(message_id=receipt.delivery_id)

    @activity.defn(name="notifications.record_delivery")
    async def record_delivery(self, input: RecordDeliveryInput) -> None:
        await self._notifications.set_delivery(
            input.notification_id,
            input.channel,
            status=input.status,
            provider_message_id=input.message_id,
            error=input.error,
        )

    @activity.defn(name="notifications.finish")
    async def finish(self, input: FinishNotificationInput) -> None:
        await self._notifications.set_status(input.notification_id, input.status)

    async def _deliver(
        self,
        input: DeliverInput,
        provider: str,
        operation: str,
        request: BaseModel,
        result_type: type[R],
        call: Callable[[], Awaitable[R]],
    ) -> R:
        """Count the attempt on the delivery row, then make the call at most once per key."""
        from followthrough.providers.idempotency import idempotent

        await self._attempt(input)
        return await idempotent(
            self._outbox,
            provider=provider,
            operation=operation,
            key=input.idempotency_key,
            request=request,
            result_type=result_type,
            call=call,
        )

    async def _attempt(self, input: DeliverInput) -> None:
        """Count this attempt on the delivery row (the activity's own attempt number)."""
        await self._notifications.count_attempt(input.notification_id, input.channel, activity.info().attempt)
