"""Cal.com webhook: a rescheduled or cancelled booking moves or cancels the lead's demo follow-ups.

The booking's metadata carries ``lead_id``; ``BOOKING_RESCHEDULED`` and ``BOOKING_CANCELLED``
signal ``demo_changed`` to ``followup-{lead_id}-{pre_demo_24h|pre_demo_reminder|post_demo}``,
inline (when Temporal is down the 503 makes Cal.com redeliver).

Cal.com signs only the body (no timestamp), so its redelivery and a replay are the same bytes:
both are answered 200 ``{"duplicate": true, …}`` and change nothing, whichever API process
took the first. A delivery is named by ``triggerEvent``, the booking's ``uid`` and the
payload's ``createdAt`` (the raw body's digest when one is missing); a ``createdAt`` more than
five minutes away is refused as stale. Status codes as in :mod:`followthrough.api.webhook_common`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import SettingsDep
from followthrough.api.webhook_common import PREFIX, Signature, digest, once, signal_followups, workflows
from followthrough.processes.bookings.rules import DEMO_FOLLOWUP_TYPES
from followthrough.processes.followups.rules import DemoChangedSignal
from followthrough.providers.calendar import verify_calcom_signature

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

CALCOM = Signature("calcom", "X-Cal-Signature-256", "CALCOM_WEBHOOK_SECRET", verify_calcom_signature)


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/calcom")
async def calcom_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    signed = await CALCOM.verify(request, settings.calcom_webhook_secret)
    event = signed.checked
    key = calcom_delivery_id(event, signed.body)
    return await once(request, "calcom", key, lambda: _handle(request, event), {"delivery": key})


def calcom_delivery_id(event: dict[str, Any], body: bytes) -> str:
    """What names one Cal.com delivery: the event, the booking and the instant it was made."""
    payload = event.get("payload")
    uid = payload.get("uid") if isinstance(payload, dict) else None
    kind, created = event.get("triggerEvent"), event.get("createdAt")
    if all(isinstance(v, str) and v for v in (kind, uid, created)):
        return digest(str(kind), str(uid), str(created))
    return digest(body)


async def _handle(request: Request, event: dict[str, Any]) -> dict[str, Any]:
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
    signalled = await signal_followups(
        await workflows(request), str(lead_id), "demo_changed", change, types=DEMO_FOLLOWUP_TYPES
    )
    return {"signalled": "demo_changed", "workflows": signalled}
