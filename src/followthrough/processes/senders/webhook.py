"""Unipile's account status webhook: ``POST /webhook/unipile/accounts``.

Unipile posts ``{"AccountStatus": {"account_id", "account_type", "message"}}`` when an account's
connection changes (``message``: ``OK``, ``CREDENTIALS``, ``ERROR``, ``STOPPED``, ``CONNECTING``
…; the map to our statuses is in :mod:`followthrough.processes.senders.rules`). It is
authenticated like the message webhook: Unipile signs nothing, so create the webhook
(``source: "account_status"``) with ``headers: [{"key": "Unipile-Auth", "value":
<UNIPILE_WEBHOOK_SECRET>}]``; a missing header is 401, a wrong one 403, an unset secret 403.

The sender accounts acting as that Unipile account take the status; their running campaigns pause
on a disconnect and resume on a reconnect (see :mod:`followthrough.processes.senders.accounts`).
A redelivery changes nothing more; if Temporal cannot take the signals the answer is 503, so
Unipile delivers again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import ServicesDep, SettingsDep
from followthrough.api.webhook_common import PREFIX, parse_json, shared_secret, workflows
from followthrough.processes.senders.accounts import SenderControl

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

AUTH_HEADER = "Unipile-Auth"
UNIPILE = shared_secret("unipile", AUTH_HEADER, "UNIPILE_WEBHOOK_SECRET")


@router.post("/unipile/accounts")
async def unipile_account_status(request: Request, settings: SettingsDep, services: ServicesDep) -> dict[str, Any]:
    signed = await UNIPILE.verify(request, settings.unipile_webhook_secret)
    body = parse_json(signed.body)
    event = body.get("AccountStatus") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not a Unipile AccountStatus event")
    account_id, message = event.get("account_id"), event.get("message")
    if not isinstance(account_id, str) or not account_id or len(account_id) > 128 or not isinstance(message, str):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "an AccountStatus event needs account_id and message")
    account_type = event.get("account_type")
    if isinstance(account_type, str) and account_type.upper() != "LINKEDIN":
        return {"ignored": f"{account_type} account"}
    return await SenderControl(services, workflows=lambda: workflows(request)).unipile_status(account_id, message[:64])
