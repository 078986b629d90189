"""Sender accounts: ``/api/sender-accounts`` — connect a LinkedIn account through Unipile, list,
show, set its limits, remove. The work is in :mod:`followthrough.processes.senders.accounts`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from followthrough.api.auth import PrincipalDep
from followthrough.api.deps import ServicesDep, workflows_for
from followthrough.api.openapi import body_example
from followthrough.processes.senders.accounts import SenderControl, SenderProblem
from followthrough.processes.senders.rules import ConnectSender, LimitsPatch, view
from followthrough.services import Services

router = APIRouter(prefix="/api/sender-accounts", tags=["sender accounts"])


def _control(request: Request, services: Services, organization: str | None) -> SenderControl:
    return SenderControl(services, organization=organization, workflows=lambda: workflows_for(request))


def _problem(exc: SenderProblem) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


@router.post(
    "", status_code=201, openapi_extra=body_example({"accountId": "unipile-acc-1", "displayName": "Ana (LinkedIn)"})
)
async def connect_sender(
    body: ConnectSender, request: Request, response: Response, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Check the account with Unipile (``GET /api/v1/accounts/{id}``) and save it with its
    status; connecting an account the organization already has refreshes it (200)."""
    try:
        shown, created = await _control(request, services, principal.organization).connect(body)
    except SenderProblem as exc:
        return _problem(exc)
    if not created:
        response.status_code = 200
    return shown


@router.get("")
async def list_senders(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    organization_id: str | None = Query(default=None, alias="organizationId", max_length=64),
) -> Any:
    """The caller's organization's accounts (the operator's key: all, or ``organizationId``'s)."""
    accounts = await _control(request, services, principal.organization).list_accounts(organization_id)
    return {"senderAccounts": accounts}


@router.get("/{sender_account_id}")
async def show_sender(sender_account_id: str, request: Request, services: ServicesDep, principal: PrincipalDep) -> Any:
    try:
        return view(await _control(request, services, principal.organization).get(sender_account_id))
    except SenderProblem as exc:
        return _problem(exc)


@router.patch(
    "/{sender_account_id}",
    openapi_extra=body_example(
        {
            "timezone": "Europe/Paris",
            "workingHours": "09:00-18:00",
            "dailyLimits": {"profile_visit": 150, "send_message": 100},
        }
    ),
)
async def set_sender_limits(
    sender_account_id: str, body: LimitsPatch, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Change the display name or limits; fields left out keep their values."""
    try:
        return await _control(request, services, principal.organization).set_limits(sender_account_id, body)
    except SenderProblem as exc:
        return _problem(exc)


@router.delete("/{sender_account_id}")
async def remove_sender(
    sender_account_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Any:
    """Remove the record: 409 while a running or paused campaign uses it."""
    try:
        return await _control(request, services, principal.organization).remove(sender_account_id)
    except SenderProblem as exc:
        return _problem(exc)
