"""Who is calling: the operator's key or an organization's key, and what its scopes allow.

Every route but the public ones (``/healthz``, the signed provider webhooks, the sandbox pay
page, the codec with its own check) needs ``Authorization: Bearer <key>``:

* ``FOLLOWTHROUGH_API_KEY`` is the operator's key: every scope, every organization;
* a key made by ``followthrough keys create --org ORG --scope read,write`` belongs to ORG and
  holds its scopes; it is looked up in the store on every request, so a revocation holds from the
  next request on in every API process.

The scope a route needs follows from the route, in one place (:func:`required_scope`): reads
(``GET``) need ``read``, what starts or changes a process needs ``write``, and terminating,
metrics and anything across organizations need ``admin``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from followthrough.store.repositories.api_keys import SCOPES, ApiKeys

_bearer = HTTPBearer(auto_error=False)

#: Routes that need ``admin`` whatever their method (path templates as FastAPI declares them).
ADMIN_ROUTES = frozenset({"/api/workflows/{workflow_id}/terminate", "/metrics"})
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Principal:
    """The caller: an organization's key, or the operator (``organization`` None: all of them)."""

    key_id: str
    organization: str | None
    scopes: frozenset[str]

    @property
    def operator(self) -> bool:
        return self.organization is None

    def sees(self, organization: str | None) -> bool:
        """Whether a record or execution owned by ``organization`` exists for this caller."""
        return self.operator or organization == self.organization


OPERATOR = Principal(key_id="operator", organization=None, scopes=frozenset(SCOPES))


def required_scope(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    if path in ADMIN_ROUTES:
        return "admin"
    return "read" if request.method in _READ_METHODS else "write"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def identify(request: Request, presented: str | None) -> Principal | None:
    """The principal a presented key stands for, or None (no key, wrong, expired or revoked)."""
    if not presented:
        return None
    operator_key: str = request.app.state.api_key
    if secrets.compare_digest(presented.encode(), operator_key.encode()):
        return OPERATOR
    record = await ApiKeys(request.app.state.services.database).authenticate(presented)
    if record is None:
        return None
    return Principal(key_id=record.id, organization=record.organization, scopes=record.scopes)


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def require_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The dependency of every non-public router: 401 without a valid key, 403 without the scope."""
    principal = await identify(request, credentials.credentials if credentials else None)
    if principal is None:
        raise _unauthorized(
            "missing, wrong, expired or revoked API key: send Authorization: Bearer <key> "
            "(an organization's key from `followthrough keys create`, or FOLLOWTHROUGH_API_KEY)"
        )
    scope = required_scope(request)
    if scope not in principal.scopes:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this key lacks the {scope!r} scope that {request.method} {route} needs "
            f"(it has: {', '.join(sorted(principal.scopes))})",
        )
    request.state.principal = principal
    return principal


def principal_of(request: Request) -> Principal:
    """The caller of a keyed route (public routes act as the operator's system user)."""
    return getattr(request.state, "principal", None) or OPERATOR


PrincipalDep = Annotated[Principal, Depends(principal_of)]
