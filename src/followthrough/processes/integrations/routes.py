"""``POST /api/integrations/sync`` syncs one lead event; ``GET /api/integrations/sync/{id}``
shows each target's outcome.

With ``USE_TEMPORAL_INTEGRATIONS`` off the targets run inline in this process, in the
background (the seed's ``waitUntil()``): each still on its own, none retried, nothing durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun, inline_activity
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.bounds import WithinHorizon
from followthrough.leads.models import RecentConversationInput
from followthrough.processes.integrations.rules import (
    IntegrationSyncInput,
    IntegrationSyncResult,
    SyncTarget,
    TargetResult,
    capi_request,
    capi_result,
    hubspot_request,
    hubspot_result,
    integration_workflow_id,
    memory_request,
    memory_result,
    memory_save_request,
)
from followthrough.processes.payments.routes import require_amount_within
from followthrough.services import Services

router = APIRouter(prefix="/api/integrations", tags=["sales assistant"])


class IntegrationSyncRequest(WithinHorizon, IntegrationSyncInput):
    """The sync input; ``occurred_at`` within ten years of now."""


@router.post(
    "/sync",
    status_code=202,
    openapi_extra=body_example(
        {"lead": LEAD, "event": "lead_created", "event_id": "msg-1", "occurred_at": "2027-03-01T10:00:00Z"}
    ),
)
async def start_sync(body: IntegrationSyncRequest, route: FlaggedRouteDep) -> dict[str, Any]:
    """Start ``integration-{lead}-{event}-{event_id}``; the same event again returns the same run."""
    require_amount_within(body.value, route.settings.followthrough_max_payment_amount, ["body", "value"])
    return await route.start(
        Feature.INTEGRATIONS,
        body,
        workflow_id=integration_workflow_id(body.lead.id, body.event, body.event_id),
        lead_id=body.lead.id,
        inline_status=IntegrationSyncResult(lead_id=body.lead.id, event=body.event, pending=body.targets),
        run_inline=lambda run: _run_inline(route.services, body, run),
    )


@router.get("/sync")
async def list_syncs(page: ListPageDep, route: FlaggedRouteDep) -> dict[str, Any]:
    """The integration syncs the key sees, newest first; ``lead_id``, ``status``, paginated."""
    return await page.list(await route.workflows(), "IntegrationSyncWorkflow")


@router.get("/sync/{workflow_id}")
async def sync_status(workflow_id: str, route: FlaggedRouteDep) -> dict[str, Any]:
    return await route.status(workflow_id)


async def _run_inline(services: Services, input: IntegrationSyncInput, run: InlineRun) -> None:
    async def hubspot() -> TargetResult:
        return hubspot_result(input, await inline_activity(services, "crm.upsert_contact")(hubspot_request(input)))

    async def meta_capi() -> TargetResult:
        return capi_result(input, await inline_activity(services, "conversions.send_event")(capi_request(input)))

    async def memory() -> TargetResult:
        conversation = await inline_activity(services, "leads.recent_conversation")(
            RecentConversationInput(lead_id=input.lead.id)
        )
        done = await inline_activity(services, "llm.complete")(memory_request(input, conversation.messages))
        saved = memory_save_request(input, done, datetime.now(UTC))
        await inline_activity(services, "leads.save_memory")(saved)
        return memory_result(saved)

    runners: dict[SyncTarget, Callable[[], Awaitable[TargetResult]]] = {
        "hubspot": hubspot,
        "meta_capi": meta_capi,
        "memory": memory,
    }

    async def guarded(target: SyncTarget) -> TargetResult:
        try:
            return await runners[target]()
        except Exception as exc:  # each target on its own
            cause = exc.__cause__ or exc
            return TargetResult(target=target, ok=False, detail=f"{type(cause).__name__}: {cause}")

    targets = list(dict.fromkeys(input.targets))
    results = await asyncio.gather(*(guarded(t) for t in targets))
    run.status = IntegrationSyncResult(lead_id=input.lead.id, event=input.event, targets=list(results)).model_dump(
        mode="json"
    )
