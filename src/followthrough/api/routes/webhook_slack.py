"""Slack Events API webhook: the request URL a Slack bot deployment sets (``POST /webhook/slack``).

Every request must carry Slack's signature (``X-Slack-Signature`` over
``X-Slack-Request-Timestamp`` and the raw body, keyed with ``SLACK_SIGNING_SECRET``) at most
five minutes away from now; status codes as in :mod:`followthrough.api.webhook_common`.

* ``url_verification`` — Slack's handshake when the request URL is set: answered with its
  ``challenge``, which is what turns the URL green in the app's Event Subscriptions.
* ``event_callback`` — acknowledged with 200 and **nothing else for now**: no event is
  recorded or dispatched to a workflow yet. Slack only needs the 200 within 3 seconds, or it
  retries (up to three times) and eventually disables the subscription.
* anything else (``app_rate_limited``, …) — 200 ``{"ignored": <type>}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import SettingsDep
from followthrough.api.webhook_common import PREFIX, configured_secret, parse_json, refuse
from followthrough.providers.signatures import InvalidSignature, verify_slack_signature

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True


@router.post("/slack")
async def slack_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("X-Slack-Signature")
    secret = configured_secret(settings.slack_signing_secret, "SLACK_SIGNING_SECRET")
    try:
        verify_slack_signature(body, signature, request.headers.get("X-Slack-Request-Timestamp"), secret)
    except InvalidSignature as exc:
        raise refuse("X-Slack-Signature", exc, signature) from None
    event = parse_json(body)
    if not isinstance(event, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a Slack event body: not a JSON object")
    kind = event.get("type")
    if kind == "url_verification":
        challenge = event.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "url_verification without a challenge")
        return {"challenge": challenge}
    if kind == "event_callback":
        inner = event.get("event")
        return {
            "acknowledged": inner.get("type") if isinstance(inner, dict) else None,
            "event_id": event.get("event_id"),
        }
    return {"ignored": kind}
