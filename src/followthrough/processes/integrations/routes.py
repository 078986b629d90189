"""``POST /api/integrations/sync`` syncs one lead event; ``GET /api/integrations/sync/{id}``
shows each target's outcome.

With ``USE_TEMPORAL_INTEGRATIONS`` off the targets run inline in this process, in the
background (the seed's ``waitUntil()``): the workflow's own
:func:`~followthrough.processes.integrations.workflow.sync_targets`, each target still on its
own, none retried, nothing durable.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from followthrough.api.flags import Feature, FlaggedRouteDep, InlineRun
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import LEAD, body_example
from followthrough.bounds import WithinHorizon
from followthrough.processes.integrations.rules import (
    IntegrationSyncInput,
    IntegrationSyncResult,
    integration_workflow_id,
)
from followthrough.processes.integrations.workflow import sync_targets
from followthrough.processes.payments.routes import require_amount_within
from followthrough.services import Services
from followthrough.temporal.steps import run_published

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
    """The workflow's :func:`sync_targets`, its steps awaited in this process."""
    await run_published(services, run, IntegrationSyncResult, lambda steps, result: sync_targets(steps, input, result))
