"""Cal.com webhook: a rescheduled or cancelled booking moves or cancels the lead's demo follow-ups.

The booking's metadata carries ``lead_id``; ``BOOKING_RESCHEDULED`` and ``BOOKING_CANCELLED``
signal ``demo_changed`` to ``followup-{lead_id}-{pre_demo_24h|pre_demo_reminder|post_demo}``,
inline (when Temporal is down the 503 makes Cal.com redeliver). Status codes as in
:mod:`followthrough.api.webhook_common`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import SettingsDep, get_workflows
from followthrough.api.webhook_common import (
    PREFIX,
    configured_secret,
    refuse,
    replays,
    signal_followups,
    temporal_client,
)
from followthrough.domain.booking import DEMO_FOLLOWUP_TYPES
from followthrough.domain.followup import DemoChangedSignal
from followthrough.providers.calendar import verify_calcom_signature
from followthrough.providers.signatures import InvalidSignature

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/calcom")
async def calcom_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("X-Cal-Signature-256")
    secret = configured_secret(settings.calcom_webhook_secret, "CALCOM_WEBHOOK_SECRET")
    try:
        event = verify_calcom_signature(body, signature, secret, seen=replays(request))
    except InvalidSignature as exc:
        raise refuse("X-Cal-Signature-256", exc, signature) from None
    kind = event.get("triggerEvent")
    if kind not in ("BOOKING_RESCHEDULED", "BOOKING_CANCELLED"):
        return {"ignored": kind}
    payload = event.get("payload") or {}
    lead_id = (payload.get("metadata") or {}).get("lead_id")
    if not lead_id:
        return {"ignored": kind, "reason": "no lead_id in the booking metadata"}
    try:
        change = (
            DemoChangedSignal(cancelled=True)
            if kind == "BOOKING_CANCELLED"
            else DemoChangedSignal(
                demo_start=_instant(payload.get("startTime")), demo_end=_instant(payload.get("endTime"))
            )
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unusable booking times: {exc}") from None
    wf = await get_workflows(request, await temporal_client(request))
    signalled = await signal_followups(wf, str(lead_id), "demo_changed", change, types=DEMO_FOLLOWUP_TYPES)
    return {"signalled": "demo_changed", "workflows": signalled}
