"""Dependencies shared by every router (``Annotated`` aliases, as FastAPI recommends)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from followthrough.config import Settings
from followthrough.services import Services
from followthrough.temporal.client import connect
from followthrough.temporal.operations import Workflows

_bearer = HTTPBearer(auto_error=False)


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected: str = request.app.state.api_key
    if credentials is None or not secrets.compare_digest(credentials.credentials, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API key: send Authorization: Bearer <FOLLOWTHROUGH_API_KEY>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def get_client(request: Request) -> Client:
    """The shared client, connected on first use (so the API starts even if Temporal is down)."""
    state = request.app.state
    if state.client is None:
        async with state.client_lock:
            if state.client is None:
                state.client = await connect(state.settings, timeout=5.0)
    return state.client  # type: ignore[no-any-return]


async def get_workflows(request: Request, client: Annotated[Client, Depends(get_client)]) -> Workflows:
    state = request.app.state
    if state.workflows is None or state.workflows.client is not client:
        state.workflows = Workflows(client, state.settings.temporal_task_queue)
    return state.workflows  # type: ignore[no-any-return]


async def workflows_for(request: Request) -> Workflows:
    """:func:`get_workflows` outside FastAPI's dependencies: for a route that needs Temporal only
    on some of its paths (a flag's inline path must work with Temporal down or switched off)."""
    return await get_workflows(request, await get_client(request))


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
ClientDep = Annotated[Client, Depends(get_client)]
WorkflowsDep = Annotated[Workflows, Depends(get_workflows)]

__all__ = [
    "ClientDep",
    "ServicesDep",
    "SettingsDep",
    "WorkflowsDep",
    "require_api_key",
]
