"""What every page shares: the templates, the Temporal Web UI link, rendering helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from followthrough.config import Settings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def temporal_link(settings: Settings, workflow_id: str | None, run_id: str | None = None) -> str | None:
    """The execution's page in the Temporal Web UI (the newest run without ``run_id``)."""
    if not workflow_id:
        return None
    base = (settings.followthrough_temporal_ui_url or f"http://127.0.0.1:{settings.followthrough_ui_port}").rstrip("/")
    path = f"{base}/namespaces/{quote(settings.temporal_namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
    return f"{path}/{quote(run_id, safe='')}/history" if run_id else path


def when(instant: datetime | str | None) -> str:
    """An instant as people read it, in UTC (the page says so)."""
    if instant is None:
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["when"] = when


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    context.setdefault("organization", principal.organization if principal else None)
    context.setdefault("now", datetime.now(UTC))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


class PageNotFound(Exception):
    """Raised by a page's dependency for a record that is missing or another organization's;
    answered with :func:`not_found` (the handler is installed with the pages)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def not_found(request: Request, what: str) -> HTMLResponse:
    """The one answer for a record that is missing and for one of another organization."""
    return render(request, "not_found.html", status_code=404, what=what)
