"""NotificationActivities' HTTP clients: opened only for a real email/webhook provider, and
closed with the services (they used to be opened per instance and never closed). The webhook
provider calls users' URLs, so it has a client of its own that dials only vetted addresses."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import respx

from followthrough.config import Settings
from followthrough.processes.notifications.activities import NotificationActivities
from followthrough.providers.email import EmailMessage
from followthrough.providers.guarded_http import GuardedTransport
from followthrough.services import Services


async def test_sandbox_providers_open_no_http_client(services: Services) -> None:
    acts = NotificationActivities(services)
    assert acts._http is None


@respx.mock
async def test_real_providers_clients_close_with_the_services(
    make_settings: Callable[..., Settings],
) -> None:
    respx.post("https://api.resend.com/emails").mock(return_value=httpx.Response(200, json={"id": "em_1"}))
    services = await Services.open(make_settings(email_api_key="re_key", webhook_delivery_provider="http"))
    acts = NotificationActivities(services)
    http = acts._http
    assert http is not None and not http.is_closed
    webhook_http = acts.webhooks._http  # type: ignore[attr-defined]
    assert acts.email._http is http and webhook_http is not http
    assert isinstance(webhook_http._transport, GuardedTransport)  # users' URLs: the guarded client
    message = EmailMessage(to="a@b.co", subject="Hi", text="Body", idempotency_key="notification:n1:email")
    assert (await acts.email.send(message)).message_id == "em_1"

    await services.close()
    assert http.is_closed and webhook_http.is_closed


async def test_each_instance_closes_its_client_with_the_services(make_settings: Callable[..., Settings]) -> None:
    services = await Services.open(make_settings(webhook_delivery_provider="http"))
    clients = [NotificationActivities(services).webhooks._http for _ in range(3)]  # type: ignore[attr-defined]
    assert all(c is not None and not c.is_closed for c in clients)
    await services.close()
    assert all(c is not None and c.is_closed for c in clients)
