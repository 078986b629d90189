"""Unipile webhook: a LinkedIn reply ends the lead's outreach with ``goal_reached``.

Unipile's "new messages" webhook posts every message of a connected account, received or
sent (``event`` ``message_received``, with ``account_id``, ``message_id`` and the ``sender``'s
``attendee_provider_id`` and ``attendee_profile_url``). Unipile signs nothing; it sends the
custom headers set when the webhook is created, so create it with
``headers: [{"key": "Unipile-Auth", "value": <UNIPILE_WEBHOOK_SECRET>}]``. A missing header is
401, a wrong one 403, an unset secret 403 (never accepted unauthenticated).

For a message from someone else, the route finds the campaign leads that are that person
(``linkedin_id`` equal to the sender's provider id or public identifier, or the same profile
URL) in campaigns whose sender account is the receiving Unipile account, and signals
``lead_replied`` to each lead's workflow (``campaign-{campaign}-lead-{lead}``, a deterministic
id, so no visibility query is needed) before answering. A lead whose workflow is not running
is skipped. If Temporal cannot take the signals the answer is 503, so the delivery can be
made again. A message handled before (the same ``account_id`` and ``message_id``, by any API
process) is answered 200 ``{"message_id": …, "duplicate": true}`` and signals nothing again.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from followthrough.api.deps import ServicesDep, SettingsDep
from followthrough.api.webhook_common import (
    PREFIX,
    delivery_key,
    once,
    parse_json,
    shared_secret,
    signal_running,
    workflows,
)
from followthrough.leads.models import LeadRepliedSignal
from followthrough.processes.campaigns.seats import lead_workflow_id
from followthrough.providers.contracts.linkedin import linkedin_identifier
from followthrough.services import Services
from followthrough.store.repositories.campaigns import CampaignLeads, normalize_linkedin_url

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["webhooks"])
PUBLIC = True

AUTH_HEADER = "Unipile-Auth"
UNIPILE = shared_secret("unipile", AUTH_HEADER, "UNIPILE_WEBHOOK_SECRET")
#: The events that mean "a person wrote to us"; reactions and read receipts are not replies.
REPLY_EVENTS = frozenset({"message_received"})


@router.post("/unipile")
async def unipile_event(request: Request, settings: SettingsDep, services: ServicesDep) -> dict[str, Any]:
    signed = await UNIPILE.verify(request, settings.unipile_webhook_secret)
    body = parse_json(signed.body)
    if not isinstance(body, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not a Unipile event object")
    event = body.get("event")
    if event not in REPLY_EVENTS:
        return {"ignored": event or "no event"}
    account_id, sender = body.get("account_id"), body.get("sender")
    if not isinstance(account_id, str) or not account_id or not isinstance(sender, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a message event needs account_id and sender")
    ids, url = sender_identities(sender)
    if not ids:
        return {"ignored": "the sender has no LinkedIn identity"}
    message_id = body.get("message_id")

    async def handle() -> dict[str, Any]:
        return await _signal_replies(request, services, body, account_id, ids, url)

    key = delivery_key(account_id, message_id) if isinstance(message_id, str) and message_id else None
    return await once(request, "unipile", key, handle, {"message_id": message_id})


async def _signal_replies(
    request: Request, services: Services, body: dict[str, Any], account_id: str, ids: set[str], url: str | None
) -> dict[str, Any]:
    leads = await replying_leads(services, account_id, ids, url)
    if not leads:
        return {"message_id": body.get("message_id"), "leads": 0, "signalled": []}
    wf = await workflows(request)
    signal = LeadRepliedSignal(message_id=str(body.get("message_id") or "") or None, channel="linkedin")
    signalled: list[str] = []
    for campaign_id, lead_id in leads:
        workflow_id = lead_workflow_id(campaign_id, lead_id)
        if await signal_running(wf, workflow_id, "lead_replied", signal):  # else: nothing to stop
            signalled.append(workflow_id)
    log.info("unipile reply %s: %d lead(s), %d signalled", body.get("message_id"), len(leads), len(signalled))
    return {"message_id": body.get("message_id"), "leads": len(leads), "signalled": signalled}


def sender_identities(sender: dict[str, Any]) -> tuple[set[str], str | None]:
    """The sender's LinkedIn ids (provider id, public identifier) and normalised profile URL."""
    ids: set[str] = set()
    provider_id = sender.get("attendee_provider_id")
    if isinstance(provider_id, str) and provider_id.strip():
        ids.add(provider_id.strip())
    url = sender.get("attendee_profile_url")
    normalized = normalize_linkedin_url(url) if isinstance(url, str) else None
    if normalized:
        ids.add(linkedin_identifier(normalized))
    return ids, normalized


async def replying_leads(services: Services, account_id: str, ids: set[str], url: str | None) -> list[tuple[str, str]]:
    """(campaign, lead) pairs for this person in campaigns sent from this Unipile account."""
    return await CampaignLeads(services.database).replying(account_id, ids, url)
