"""Request limits: how large a body may be, how many leads it may carry, how much of a bad input a
422 repeats, and how often a key or a webhook source may call (:mod:`followthrough.api.rate_limits`).

Every input is bounded before it costs memory or CPU:

* **body size**, per route family (:func:`body_family`): JSON routes
  ``FOLLOWTHROUGH_MAX_BODY_BYTES`` (1 MiB), the two routes that carry lead lists (``POST
  /api/campaigns`` and ``POST /api/campaigns/{id}/leads``, whether as a CSV upload, ``text/csv``,
  ``leadsCsv`` or JSON) ``FOLLOWTHROUGH_MAX_UPLOAD_BYTES`` (20 MiB), provider webhooks
  ``FOLLOWTHROUGH_MAX_WEBHOOK_BYTES`` (1 MiB). :class:`BodyLimit` is plain ASGI middleware: a
  ``Content-Length`` over the limit is answered 413 before a byte is read, and a body without
  one (chunked) is counted as it streams in and refused at the first chunk past the limit;
* **leads per request**, ``FOLLOWTHROUGH_MAX_CSV_ROWS`` (100,000), set here for each request
  (:data:`~followthrough.processes.campaigns.control.max_leads_per_request`) and enforced by the lead parser;
* **422 answers** name the field, the reason and at most a short excerpt of what was sent
  (:func:`input_excerpt`), and at most :data:`MAX_ERRORS` faults: FastAPI's own handler repeats
  the whole input, so a 2 MB body that failed validation came back as a 4 MB answer.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from followthrough.api.rate_limits import RateLimiter
from followthrough.config import Settings
from followthrough.processes.campaigns.control import max_leads_per_request

Family = Literal["json", "upload", "webhook"]

#: The settings that bound each family, as named in messages.
_VARIABLES: dict[Family, str] = {
    "json": "FOLLOWTHROUGH_MAX_BODY_BYTES",
    "upload": "FOLLOWTHROUGH_MAX_UPLOAD_BYTES",
    "webhook": "FOLLOWTHROUGH_MAX_WEBHOOK_BYTES",
}
_LEAD_LISTS = re.compile(r"^/api/campaigns(/[^/]+/leads)?/?$")

#: A 422 repeats at most this many characters of a bad value, and at most this many faults.
EXCERPT_CHARS = 200
MAX_ERRORS = 50


def body_family(method: str, path: str) -> Family:
    """Which limit a request's body falls under."""
    if path.startswith("/webhook/"):
        return "webhook"
    if method == "POST" and _LEAD_LISTS.match(path):
        return "upload"
    return "json"


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"


class BodyTooLarge(HTTPException):
    """413: raised from ``receive`` at the first chunk past the limit (FastAPI and Starlette pass
    an ``HTTPException`` raised while reading a body through untouched)."""

    def __init__(self, family: Family, limit: int) -> None:
        super().__init__(
            413,
            f"request body larger than {_size(limit)}, the limit of "
            f"{'webhook' if family == 'webhook' else 'lead-list' if family == 'upload' else 'JSON'} "
            f"routes ({_VARIABLES[family]})",
        )


class BodyLimit:
    """Refuse a body over its family's limit (413) without reading it whole; see the module doc."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.limits: dict[Family, int] = {
            "json": settings.followthrough_max_body_bytes,
            "upload": settings.followthrough_max_upload_bytes,
            "webhook": settings.followthrough_max_webhook_bytes,
        }
        self.max_leads = settings.followthrough_max_csv_rows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        family = body_family(scope["method"], scope["path"])
        limit = self.limits[family]
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, BodyTooLarge(family, limit))
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(family, limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        token = max_leads_per_request.set(self.max_leads)
        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside a route (a middleware): answer it here
            if started:
                raise
            await _refuse(send, exc)
        finally:
            max_leads_per_request.reset(token)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length; count the bytes meanwhile
    return None


async def _refuse(send: Send, exc: BodyTooLarge) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # The rest of the body is never read: ask the client not to reuse the connection.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def input_excerpt(value: Any) -> Any:
    """What a 422 may repeat of a bad value: short scalars as they are, a long string cut to
    :data:`EXCERPT_CHARS` characters, a large object or array named by its type and size."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: EXCERPT_CHARS * 4]).decode("utf-8", "replace")
    if isinstance(value, str):
        if len(value) <= EXCERPT_CHARS:
            return value
        return f"{value[:EXCERPT_CHARS]}… ({len(value)} characters)"
    if isinstance(value, dict | list | tuple):
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError, RecursionError):
            text = None
        if text is not None and len(text) <= EXCERPT_CHARS:
            return value
        if isinstance(value, dict):
            return f"<object with {len(value)} keys>"
        return f"<array of {len(value)} items>"
    return f"<{type(value).__name__}>"


def short_errors(errors: Any) -> list[dict[str, Any]]:
    """Each fault's ``loc``, ``msg``, ``type`` and an excerpt of its ``input``, at most :data:`MAX_ERRORS`."""
    faults = []
    for error in list(errors)[:MAX_ERRORS]:
        fault: dict[str, Any] = {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "invalid"))}
        if "type" in error:
            fault["type"] = str(error["type"])
        if "input" in error:
            fault["input"] = input_excerpt(error["input"])
        faults.append(fault)
    return faults


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body: dict[str, Any] = {"detail": short_errors(errors)}
    if len(errors) > MAX_ERRORS:
        body["more_errors"] = len(errors) - MAX_ERRORS
    return JSONResponse(body, status_code=422)


def install_limits(app: FastAPI, settings: Settings) -> None:
    """Body limits (outermost middleware, so nothing reads a body first), the short 422 and the
    rate limiter the routers' dependencies use (:func:`followthrough.api.rate_limits.limits_for`)."""
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.state.rate_limiter = RateLimiter(settings)
    app.add_middleware(BodyLimit, settings=settings)
