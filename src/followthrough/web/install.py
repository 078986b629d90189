"""Mounting the web app on the API: the pages under ``/app``, their assets, and the answers for
a signed-out visit and for a record that is not the organization's."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from followthrough.web import campaigns, routes, timeline, today
from followthrough.web.pages import HERE, PageNotFound, not_found
from followthrough.web.session import SignInRequired


def install_web(app: FastAPI) -> None:
    """Mount the pages under ``/app`` and their assets under ``/app/static``."""
    web = APIRouter(prefix="/app", include_in_schema=False)
    web.include_router(routes.router)
    web.include_router(campaigns.router)
    web.include_router(timeline.router)
    web.include_router(today.router)
    app.include_router(web)
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("hx-request"):  # htmx: send the whole page to the form
            return Response(status_code=401, headers={"HX-Redirect": "/app/sign-in"})
        return RedirectResponse("/app/sign-in", status_code=303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return not_found(request, exc.what)
