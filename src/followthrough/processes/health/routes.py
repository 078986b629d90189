"""``GET /healthz``: the API, Temporal and a polling worker, each reported apart.

Anyone may ask whether the service is up (``{"status": "ok" | "degraded"}``, 200 or 503); the
details (addresses, server version, worker identities, errors) need a valid key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

from followthrough.api.auth import bearer_of, identify
from followthrough.api.deps import get_client

router = APIRouter(tags=["health"])

#: A live worker re-polls at least once a minute (long polls last ~60 s).
POLLER_FRESHNESS = timedelta(seconds=90)


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    report: dict[str, Any] = {
        "api": {"ok": True},
        "temporal": {"ok": False, "address": settings.target_address},
        "worker": {"ok": False, "task_queue": settings.temporal_task_queue, "pollers": 0},
    }
    try:
        client = await get_client(request)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))
        report["temporal"].update(ok=True, server_version=info.server_version or None)
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=settings.temporal_task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=3),
        )
        now = datetime.now(UTC)
        fresh = [
            p
            for p in resp.pollers
            if p.HasField("last_access_time") and now - p.last_access_time.ToDatetime(UTC) < POLLER_FRESHNESS
        ]
        report["worker"].update(ok=bool(fresh), pollers=len(fresh), identities=[p.identity for p in fresh])
    except Exception as exc:  # reported, not raised: health must always answer
        target = "worker" if report["temporal"]["ok"] else "temporal"
        report[target]["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    ok = all(part["ok"] for part in report.values())
    report["status"] = "ok" if ok else "degraded"
    code = 200 if ok else 503
    if await identify(request, bearer_of(request)) is None:
        return JSONResponse({"status": report["status"]}, status_code=code)
    return JSONResponse(report, status_code=code)


PUBLIC = True
