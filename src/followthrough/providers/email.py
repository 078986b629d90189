"""Email: the Resend REST API, for notifications.

* :class:`ResendEmail` — ``POST {base}/emails`` with a Bearer key and the ``Idempotency-Key``
  header (Resend keeps the key 24 h, so a retried send is not delivered twice).
* :class:`SandboxEmail` — answers a stable id derived from the key and records the email in
  the outbox.

Errors map through :mod:`followthrough.providers.http`: 429/5xx/timeouts retry, 401/403/422
are permanent.
"""

from __future__ import annotations

from typing import Protocol

import httpx
from pydantic import BaseModel, Field

from followthrough.errors import ValidationError
from followthrough.providers.http import send_json
from followthrough.providers.sandbox import Sandbox, stable_id


class EmailMessage(BaseModel):
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    idempotency_key: str = Field(min_length=1, max_length=255)


class EmailReceipt(BaseModel):
    message_id: str


class EmailProvider(Protocol):
    name: str

    async def send(self, message: EmailMessage) -> EmailReceipt: ...


class ResendEmail:
    name = "email"

    def __init__(
        self, http: httpx.AsyncClient, *, api_key: str, sender: str, base_url: str = "https://api.resend.com"
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._sender = sender
        self._url = f"{base_url.rstrip('/')}/emails"

    async def send(self, message: EmailMessage) -> EmailReceipt:
        data = await send_json(
            self._http,
            self.name,
            "POST",
            self._url,
            json={"from": self._sender, "to": [message.to], "subject": message.subject, "text": message.text},
            headers={**self._headers, "Idempotency-Key": message.idempotency_key},
        )
        message_id = data.get("id") if isinstance(data, dict) else None
        if not message_id:
            raise ValidationError(f"email provider accepted the request but returned no id: {data}", provider=self.name)
        return EmailReceipt(message_id=str(message_id))


class SandboxEmail:
    name = "email"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def send(self, message: EmailMessage) -> EmailReceipt:
        async def respond() -> EmailReceipt:
            return EmailReceipt(message_id=f"sandbox-email-{stable_id('email', message.idempotency_key)}")

        return await self._sandbox.side_effect(self.name, "send", message.idempotency_key, message, respond)
