"""Conversions: Meta Conversions API.

* :class:`MetaConversionsClient` — ``POST {base}/{version}/{pixel_id}/events`` with one event:
  ``event_name``, ``event_time`` (unix), ``event_id`` (the idempotency key, which Meta uses to
  deduplicate), ``action_source`` and ``user_data`` hashed as Meta requires (SHA-256 of the
  normalised email/phone, see :mod:`followthrough.providers.contracts.conversions`). The access token goes
  in the body, as Meta documents.
* :class:`SandboxConversions` — answers ``events_received: 1`` and records the event.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from followthrough.providers.contracts.conversions import SendEventInput, SendEventResult, major_units
from followthrough.providers.http import graph_api_classifier, send_json
from followthrough.providers.sandbox import Sandbox, stable_id


class ConversionsProvider(Protocol):
    name: str

    async def send_event(self, input: SendEventInput) -> SendEventResult: ...


def meta_event(input: SendEventInput) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": input.event_name,
        "event_time": int(input.event_time.timestamp()),
        "event_id": input.idempotency_key,
        "action_source": input.action_source,
        "user_data": input.user_data(),
    }
    if input.value is not None and input.currency is not None:
        event["custom_data"] = {"value": major_units(input.value, input.currency), "currency": input.currency.upper()}
    return event


class MetaConversionsClient:
    name = "meta"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        pixel_id: str,
        access_token: str,
        api_version: str = "v21.0",
        base_url: str = "https://graph.facebook.com",
        test_event_code: str | None = None,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/{api_version}/{pixel_id}/events"
        self._token = access_token
        self._test_event_code = test_event_code
        self._classify = graph_api_classifier(self.name)

    async def send_event(self, input: SendEventInput) -> SendEventResult:
        body: dict[str, Any] = {"data": [meta_event(input)], "access_token": self._token}
        if self._test_event_code:
            body["test_event_code"] = self._test_event_code
        data = await send_json(self._http, self.name, "POST", self._url, json=body, classify=self._classify)
        return SendEventResult(events_received=int(data.get("events_received", 0)), fbtrace_id=data.get("fbtrace_id"))


class SandboxConversions:
    name = "meta"

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def send_event(self, input: SendEventInput) -> SendEventResult:
        async def respond() -> SendEventResult:
            return SendEventResult(events_received=1, fbtrace_id="SANDBOX" + stable_id("meta", input.idempotency_key))

        return await self._sandbox.side_effect(self.name, "send_event", input.idempotency_key, input, respond)
