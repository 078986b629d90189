"""``GET /metrics``: Prometheus text — this process's registry (workflow completions and
durations recorded by the worker interceptor, HTTP requests, provider calls, webhook
deliveries, and the outbox's entries by state, read from the store at each scrape) followed by
the Temporal SDK's own metrics when ``FOLLOWTHROUGH_SDK_METRICS_ADDRESS`` is set. Behind the
API key like every non-webhook route (Prometheus sends it with ``authorization: {credentials:
<key>}``)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from followthrough.api.deps import ServicesDep, SettingsDep
from followthrough.metrics import exposition, set_outbox_entries
from followthrough.store import StoreError

log = logging.getLogger(__name__)

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(settings: SettingsDep, services: ServicesDep) -> PlainTextResponse:
    try:
        set_outbox_entries(await services.providers.outbox.counts())
    except StoreError:  # the rest of the scrape is still worth answering
        log.warning("GET /metrics: the outbox could not be counted", exc_info=True)
    # In a thread: reading the SDK endpoint never blocks the loop.
    text = await run_in_threadpool(exposition, settings)
    return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)
