"""``GET /metrics``: Prometheus text — this process's registry (workflow completions and
durations recorded by the worker interceptor) followed by the Temporal SDK's own metrics when
``FOLLOWTHROUGH_SDK_METRICS_ADDRESS`` is set. Behind the API key like every non-webhook route
(Prometheus sends it with ``authorization: {credentials: <key>}``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from followthrough.api.deps import SettingsDep
from followthrough.metrics import exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(settings: SettingsDep) -> PlainTextResponse:
    # A plain function: FastAPI runs it in a thread, so reading the SDK endpoint never blocks the loop.
    return PlainTextResponse(exposition(settings), media_type=CONTENT_TYPE_LATEST)
