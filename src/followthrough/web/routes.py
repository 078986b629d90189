"""Signing in and out, and the app's root."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from followthrough.store.repositories.api_keys import ApiKeys
from followthrough.web.pages import render
from followthrough.web.session import check_origin, close_session, open_session, signed_in

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def root(request: Request) -> Response:
    target = "/app/campaigns" if await signed_in(request) else "/app/sign-in"
    return RedirectResponse(target, status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> Response:
    return render(request, "sign_in.html")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, api_key: str = Form(default="", max_length=300)) -> Response:
    """Check the key with the key store; a session cookie for an active organization key. The
    operator's key does not sign in here: the app shows one organization's business."""
    check_origin(request)
    record = await ApiKeys(request.app.state.services.database).authenticate(api_key.strip())
    if record is None or "read" not in record.scopes:
        return render(request, "sign_in.html", status_code=401, error="That key is not an active organization key.")
    response = RedirectResponse("/app/campaigns", status_code=303)
    await open_session(request, response, record.id)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session in the store, not only in this browser: a copy of the cookie stops too."""
    check_origin(request)
    response = RedirectResponse("/app/sign-in", status_code=303)
    await close_session(request, response)
    return response
