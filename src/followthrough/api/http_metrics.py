"""Requests counted and timed by route template, method and status class.

A plain ASGI middleware (the body stream passes untouched). The label is the matched route's
path template (``/api/bookings/{workflow_id}``), never the raw path: the router records the
route it matched in the request's scope. A request no route matched (a 404 for an unknown path,
or a 413 from the body limit before routing) is ``unmatched``, so a scanner cannot grow the
label set. Methods outside the standard ones are ``other``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from followthrough.metrics import record_http_request

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return scope.get("root_path", "") + path if path else UNMATCHED


class HttpMetricsMiddleware:
    """Records ``followthrough_http_requests_total`` and the latency histogram per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the answer started is answered 500 by the server

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            record_http_request(route_template(scope), method, status, time.perf_counter() - started)
