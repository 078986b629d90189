"""Logging set-up: one format for every process, and secrets and personal data redacted from
every line.

Phones, emails and tokens travel through activities, webhooks and provider URLs (Telegram puts
the bot token in the path); a log line must never carry them (DESIGN: "Personal data … never
appears in clear … in logs"). :class:`RedactingFormatter` masks them in the rendered message
*and* in the traceback of every record, whoever logged it: bearer tokens, ``bot<id>:<token>``
paths and bare Telegram tokens, API-key-looking strings (``sk_live_…``, ``xoxb-…``, ``EAA…``,
``key=value`` pairs named token/secret/key/password), e-mail addresses and phone numbers (7–15
digits, ``+`` optional, spaces or dashes allowed). httpx and httpcore log each request's full
URL at INFO, so they are held at WARNING.

``FOLLOWTHROUGH_LOG_FORMAT=json`` writes one JSON object per line: ``time``, ``level``,
``logger``, ``message``, plus ``request_id`` (set by :class:`RequestIdMiddleware` for the API's
requests) and ``workflow_id`` / ``activity_type`` / ``workflow_type`` (from the ``extra`` that
Temporal's workflow and activity loggers attach), ``trace_id`` / ``span_id`` (hex, when tracing
is on and a span is active: see ``tracing.py``), and ``exception`` when there is one.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from followthrough import tracing
from followthrough.redaction import redact

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RedactingFilter(logging.Filter):
    """Masks the rendered message of a record (for loggers with handlers of their own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """A text formatter that redacts the message and the traceback once they are rendered."""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the traceback's clear text on the record: render it
        # again here (redacted), and leave the record as it was for the others.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = redact(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


#: The API request being served (set by :class:`RequestIdMiddleware`).
request_id_var: ContextVar[str | None] = ContextVar("followthrough_request_id", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """The ids Temporal's workflow and activity loggers put in ``extra``."""
    found: dict[str, Any] = {}
    for key in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, key, None)
        if isinstance(info, dict):
            for name in ("workflow_id", "run_id", "workflow_type", "activity_type", "activity_id", "attempt"):
                if info.get(name) is not None:
                    found.setdefault(name, info[name])
    return found


class JsonFormatter(RedactingFormatter):
    """One JSON object per line, redacted like the text format."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003
        record.message = redact(record.getMessage())
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.message,
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(_temporal_context(record))
        entry.update(tracing.current_ids())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


#: Libraries that log secrets at INFO: httpx/httpcore print each request's full URL.
QUIET_LOGGERS = ("httpx", "httpcore")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str, log_format: str = "text") -> None:
    logging.basicConfig(level=level)
    formatter = formatter_for(log_format)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    quiet_libraries()
    redacting = RedactingFilter()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(redacting)
            handler.setFormatter(formatter)


class RequestIdMiddleware:
    """Give each API request an id (the caller's ``X-Request-ID`` when well-formed), for its log
    lines and its answer's ``X-Request-ID`` header. Plain ASGI: it leaves the request's body
    stream as it is (the body limit's 413 raised while reading passes through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
