"""Slack Events API webhook: the request URL a Slack bot deployment sets (``POST /webhook/slack``).

Every request must carry Slack's signature (``X-Slack-Signature`` over
``X-Slack-Request-Timestamp`` and the raw body, keyed with ``SLACK_SIGNING_SECRET``, checked by
``slack_sdk``'s ``SignatureVerifier``) at most five minutes away from now; the same signed
request again is a replay (403). Status codes as in :mod:`followthrough.api.webhook_common`.

* ``url_verification`` — Slack's handshake when the request URL is set: answered with its
  ``challenge``, which is what turns the URL green in the app's Event Subscriptions.
* ``event_callback`` — acknowledged with 200 and **nothing else for now**: no event is
  recorded or dispatched to a workflow yet. Slack only needs the 200 within 3 seconds, or it
  retries (up to three times, with ``X-Slack-Retry-Num`` and a fresh signature) and eventually
  disables the subscription. A retry of an event acknowledged before, by any API process, is
  200 ``{"duplicate": true, "event_id": …}``.
* anything else (``app_rate_limited``, …) — 200 ``{"ignored": <type>}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import SettingsDep
from followthrough.api.webhook_common import PREFIX, Signature, delivery_key, digest, once, parse_json, refuse_replay
from followthrough.providers.signatures import verify_slack_signature

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True


@router.post("/slack")
async def slack_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    slack = Signature(
        "slack", "X-Slack-Signature", "SLACK_SIGNING_SECRET", lambda b, s, k: verify_slack_signature(b, s, timestamp, k)
    )
    signed = await slack.verify(request, settings.slack_signing_secret)
    await refuse_replay(request, "slack", digest(f"v0:{timestamp}:", signed.body), "X-Slack-Signature")
    event = parse_json(signed.body)
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
        answer = {
            "acknowledged": inner.get("type") if isinstance(inner, dict) else None,
            "event_id": event.get("event_id"),
        }
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return answer
        if retry := request.headers.get("X-Slack-Retry-Num"):
            log.info("slack retry %s (%s) of an event", retry[:8], request.headers.get("X-Slack-Retry-Reason", "")[:32])

        async def acknowledge() -> dict[str, Any]:
            return answer

        team = event.get("team_id") if isinstance(event.get("team_id"), str) else ""
        return await once(request, "slack", delivery_key(str(team), event_id), acknowledge, {"event_id": event_id})
    return {"ignored": kind}
