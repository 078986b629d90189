"""Who is signed in to the web app, and the checks every page and form goes through.

Signing in takes an organization's API key in a form POST, checks it with the key store
(:meth:`ApiKeys.authenticate`) and answers with a session cookie; the key itself is never
stored in the browser nor put in a URL. The cookie holds the key's public id, the instant of
sign-in and a random nonce, signed with HMAC-SHA256 under a secret derived from the operator's
key (server-side only). The nonce's digest is a row of ``web_sessions``
(:class:`~followthrough.store.repositories.web_sessions.WebSessions`), checked on every request
and ended at sign-out: a copied cookie stops working when its session is signed out. The
cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends
it) and scoped to ``/app``. Every request re-reads the key's record, so a
revoked or expired key signs its sessions out at their next request, in every API process.

Cross-site forms: besides ``SameSite=Strict``, every POST must carry an ``Origin`` (or, failing
that, a ``Referer``) of this very host, or it is refused with 403 before anything changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response, status

from followthrough.api.auth import Principal
from followthrough.store.repositories.api_keys import ApiKeys
from followthrough.store.repositories.web_sessions import WebSessions

COOKIE = "ft_session"
#: A session ends this long after sign-in, whatever happens (the key may live for years).
SESSION_SECONDS = 12 * 3600
PATH = "/app"


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, htmx requests are told to."""


def _secret(request: Request) -> bytes:
    operator_key: str = request.app.state.api_key
    return hmac.new(operator_key.encode(), b"followthrough-web-session-v1", hashlib.sha256).digest()


def _sign(request: Request, payload: bytes) -> str:
    mac = hmac.new(_secret(request), payload, hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + mac


def _unsign(request: Request, value: str) -> dict[str, object] | None:
    body, _, mac = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None
    expected = hmac.new(_secret(request), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _sessions(request: Request) -> WebSessions:
    return WebSessions(request.app.state.services.database)


async def open_session(request: Request, response: Response, key_id: str) -> None:
    """Record a new session for key ``key_id`` (already authenticated by the caller) and set its
    cookie."""
    nonce = secrets.token_urlsafe(16)
    await _sessions(request).open(_digest(nonce), key_id, timedelta(seconds=SESSION_SECONDS))
    payload = json.dumps({"k": key_id, "t": int(time.time()), "n": nonce}).encode()
    response.set_cookie(
        COOKIE,
        _sign(request, payload),
        max_age=SESSION_SECONDS,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def close_session(request: Request, response: Response) -> None:
    """End the request's session in the store (every copy of its cookie with it) and clear the
    cookie."""
    value = request.cookies.get(COOKIE)
    data = _unsign(request, value) if value else None
    if data is not None and isinstance(data.get("n"), str):
        await _sessions(request).end(_digest(str(data["n"])))
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")


async def signed_in(request: Request) -> Principal | None:
    """The principal of the request's session: None without a valid, unexpired, not signed-out
    session whose key is still active (both read from the store on every request)."""
    value = request.cookies.get(COOKIE)
    data = _unsign(request, value) if value else None
    if data is None:
        return None
    key_id, issued, nonce = data.get("k"), data.get("t"), data.get("n")
    if not isinstance(key_id, str) or not isinstance(issued, int) or time.time() - issued > SESSION_SECONDS:
        return None
    if not isinstance(nonce, str) or not await _sessions(request).is_open(_digest(nonce), key_id):
        return None
    record = await ApiKeys(request.app.state.services.database).active(key_id)
    if record is None:
        return None
    return Principal(key_id=record.id, organization=record.organization, scopes=record.scopes)


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this host (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def check_origin(request: Request) -> None:
    if request.method not in ("GET", "HEAD") and not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form refused")


async def require_session(request: Request) -> Principal:
    """The dependency of every page: the signed-in organization's principal (never the
    operator's), its POSTs checked for origin and for the ``write`` scope."""
    check_origin(request)
    principal = await signed_in(request)
    if principal is None:
        raise SignInRequired()
    needed = "read" if request.method in ("GET", "HEAD") else "write"
    if needed not in principal.scopes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the {needed!r} scope")
    request.state.principal = principal  # what the API's dependencies (workflows_for) act for
    return principal


SessionDep = Annotated[Principal, Depends(require_session)]
