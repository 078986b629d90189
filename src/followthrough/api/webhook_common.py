"""What the provider webhooks share: secrets, refusals, replay memory, signalling follow-ups.

Kept outside ``api/routes/`` so route discovery does not take it for a routes module. Every
webhook checks its provider's signature over the raw body instead of the API key: a missing
signature is 401, a wrong or stale one 403, a body that is not the provider's JSON 400, an
event this service does not use 200 ``{"ignored": …}``; never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from followthrough.domain.followup import FOLLOWUP_TYPES, followup_workflow_id
from followthrough.providers.signatures import InvalidSignature, ReplayCache
from followthrough.temporal.operations import WorkflowNotFound, Workflows

log = logging.getLogger(__name__)

#: The prefix every webhook router uses (``/webhook/<provider>``).
PREFIX = "/webhook"


def configured_secret(value: SecretStr | None, variable: str) -> str:
    """The configured secret; 403 when it is not set (unconfigured is refused, never accepted unsigned)."""
    if value is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"webhook refused: {variable} is not configured")
    return value.get_secret_value()


def replays(request: Request) -> ReplayCache:
    """Deliveries already accepted by this process (Stripe event ids, Cal.com signatures)."""
    cache: ReplayCache | None = getattr(request.app.state, "webhook_replays", None)
    if cache is None:
        cache = request.app.state.webhook_replays = ReplayCache()
    return cache


def refuse(header: str, exc: InvalidSignature, given: str | None) -> HTTPException:
    """401 when the signature is missing, 403 when it is forged, malformed or stale."""
    code = status.HTTP_401_UNAUTHORIZED if not given else status.HTTP_403_FORBIDDEN
    return HTTPException(code, f"{header} refused: {exc}")


def parse_json(body: bytes) -> Any:
    """The body as JSON; 400 when it is not."""
    try:
        return json.loads(body)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from None


async def temporal_client(request: Request) -> Any:
    """The app's Temporal client (imported late: ``deps`` connects on first use)."""
    from followthrough.api.deps import get_client

    return await get_client(request)


async def running_followups(wf: Workflows, lead_id: str, types: Iterable[str] = FOLLOWUP_TYPES) -> set[str]:
    """The lead's follow-up ids: the deterministic ones, plus any visibility finds running."""
    wanted = set(types)
    ids = {followup_workflow_id(lead_id, t) for t in wanted}
    query = f'LeadId="{lead_id}" AND WorkflowType="FollowUpWorkflow" AND ExecutionStatus="Running"'
    try:
        found, _ = await wf.list(query, page_size=100)
        ids |= {e.workflow_id for e in found if wanted == set(FOLLOWUP_TYPES) or e.workflow_id in ids}
    except Exception:  # visibility is an extra; the time-skipping server does not serve it
        log.debug("visibility query failed; signalling the deterministic follow-up ids only")
    return ids


async def signal_followups(
    wf: Workflows,
    lead_id: str,
    name: str,
    arg: Any,
    *,
    types: Iterable[str] = FOLLOWUP_TYPES,
    skip: set[str] | None = None,
) -> list[str]:
    """Signal every running follow-up of the lead; returns the ids that took the signal."""
    ids = sorted((await running_followups(wf, lead_id, types)) - (skip or set()))

    async def one(workflow_id: str) -> str | None:
        try:
            await wf.signal(workflow_id, name, arg, internal=True)
            return workflow_id
        except WorkflowNotFound:
            return None  # never started, or already closed

    return [i for i in await asyncio.gather(*(one(i) for i in ids)) if i is not None]
