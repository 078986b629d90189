"""The FastAPI application factory: the platform's middleware and the routers of the processes
it is given (the product's list is ``followthrough/catalog.py``, which calls this)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

import followthrough
from followthrough import tracing
from followthrough.api.auth import require_key
from followthrough.api.docs import install_docs
from followthrough.api.errors import install_error_handlers
from followthrough.api.http_metrics import HttpMetricsMiddleware
from followthrough.api.limits import install_limits
from followthrough.api.openapi import install_error_answers, router_answers
from followthrough.api.rate_limits import limits_for
from followthrough.config import Settings
from followthrough.logs import RequestIdMiddleware
from followthrough.manifest import Catalog
from followthrough.services import Services
from followthrough.web.install import install_web


def create_app(
    settings: Settings,
    catalog: Catalog,
    *,
    api_key: str,
    services: Services | None = None,
    client: Client | None = None,
) -> FastAPI:
    """The app serving ``catalog``'s routers and workflow types. ``client`` may be given (tests,
    `dev`); otherwise it connects on first use.

    ``services`` are closed with the app only when the app opened them.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.services is None
        if owned:
            app.state.services = await Services.open(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()

    app = FastAPI(
        title="Followthrough",
        version=followthrough.__version__,
        description="Durable business workflows on Temporal.",
        lifespan=lifespan,
        docs_url=None,  # served offline by install_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.api_key = api_key
    app.state.services = services
    app.state.client = client
    app.state.client_lock = asyncio.Lock()
    app.state.workflows = None
    app.state.specs = catalog.specs  # the workflow types the generic routes and flags may use
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(RequestIdMiddleware)  # X-Request-ID, and request_id in log lines
    # The Web UI (another origin) calls the codec endpoint from the browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[
            f"http://127.0.0.1:{settings.followthrough_ui_port}",
            f"http://localhost:{settings.followthrough_ui_port}",
        ],
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    install_limits(app, settings)  # after CORS: the body limit is the outermost middleware but one
    app.add_middleware(HttpMetricsMiddleware)  # counts every answer, the body limit's 413 too
    tracing.instrument_app(app)  # a span per request when OTEL_EXPORTER_OTLP_ENDPOINT is set
    for router, public in catalog.routers:
        keyed = [] if public else [Depends(require_key)]
        limits = limits_for(router, public)
        answers = router_answers(public=public, limited=bool(limits))  # 401/403/429/503… in /openapi.json
        app.include_router(router, dependencies=[*keyed, *limits], responses=answers)
    install_error_answers(app)  # 404, 413 and each route's own answers in the OpenAPI document
    install_web(app)  # /app: the business pages, signed in with a session (not in the schema)
    return app
