"""Dependencies shared by every router (``Annotated`` aliases, as FastAPI recommends)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from followthrough.api.auth import principal_of, require_key
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.temporal.client import connect
from followthrough.temporal.operations import Workflows
from followthrough.temporal.tenancy import OrganizationWorkflows


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
    """The operations as the caller may use them: an organization's key sees and starts only its
    own executions (:class:`OrganizationWorkflows`); the operator's key and the public routes
    (signed webhooks, which resolve the owner from their records) see every one."""
    state = request.app.state
    if state.workflows is None or state.workflows.client is not client:
        state.workflows = Workflows(client, state.settings.temporal_task_queue, specs=state.specs)
    principal = principal_of(request)
    if principal.operator:
        return state.workflows  # type: ignore[no-any-return]
    return OrganizationWorkflows(
        client, state.settings.temporal_task_queue, principal.organization or "", specs=state.workflows.specs
    )


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
    "require_key",
]
