"""The Partner Platform's routes (seed 004), as thin aliases of the generic ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from followthrough.api.deps import WorkflowsDep

router = APIRouter(prefix="/api/temporal", tags=["partner-platform"])


@router.get("/workflow/{workflow_id}/status")
async def workflow_status(workflow_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    return (await wf.describe(workflow_id)).as_dict()


@router.post("/workflow/{workflow_id}/cancel", status_code=202)
async def workflow_cancel(workflow_id: str, wf: WorkflowsDep) -> dict[str, Any]:
    await wf.cancel(workflow_id)
    return {"workflow_id": workflow_id, "cancel_requested": True}
