"""The remote codec endpoint the Temporal Web UI calls to show encrypted payloads.

Protocol (Temporal's): ``POST /codec/decode`` and ``/codec/encode`` with
``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``. Point the UI at it with
``--ui-codec-endpoint http://127.0.0.1:8000/codec`` (`followthrough dev` does).

Decoding needs a key with the ``read`` scope: the operator's key opens every payload; an
organization's key opens only the payloads of workflows its organization owns (each payload
names its workflow, see :mod:`followthrough.temporal.codec`) and gets the others back as they
came, still sealed. The one exception is the embedded dev stack in development, where a browser
on this machine (loopback) may decode, since the Web UI cannot attach a key; in production
(``FOLLOWTHROUGH_ENV=production``) every caller needs a key. The server itself never sees
plaintext either way.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from followthrough.api.auth import OPERATOR, Principal, bearer_of, identify
from followthrough.api.deps import get_client, get_workflows
from followthrough.temporal.codec import workflow_of
from followthrough.temporal.converter import codec_for
from followthrough.temporal.operations import WorkflowNotFound
from followthrough.temporal.tenancy import owner_of

router = APIRouter(prefix="/codec", tags=["codec"])
PUBLIC = True  # checks the key itself (see module docstring)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


async def _caller(request: Request, scope: str) -> Principal:
    principal = await identify(request, bearer_of(request))
    if principal is not None:
        if scope not in principal.scopes:
            raise HTTPException(403, f"the codec endpoint needs a key with the {scope!r} scope")
        return principal
    client = request.client.host if request.client else ""
    settings = request.app.state.settings
    if settings.embedded and not settings.production and client in _LOOPBACK | {"testclient"}:
        return OPERATOR
    raise HTTPException(401, "the codec endpoint needs Authorization: Bearer <key>")


async def _owned_by(request: Request, principal: Principal, payloads: list[Payload]) -> list[bool]:
    """For each payload, whether ``principal`` may open it (one describe per workflow named)."""
    if principal.operator:
        return [True] * len(payloads)
    workflows = await get_workflows(request, await get_client(request))
    owners: dict[str, str | None] = {}
    allowed = []
    for payload in payloads:
        workflow_id = workflow_of(payload)
        if workflow_id is not None and workflow_id not in owners:
            try:
                owners[workflow_id] = owner_of(await workflows.describe(workflow_id))
            except WorkflowNotFound:
                owners[workflow_id] = None
        allowed.append(workflow_id is not None and owners[workflow_id] == principal.organization)
    return allowed


async def _transform(request: Request, decode: bool) -> dict[str, Any]:
    principal = await _caller(request, "read" if decode else "write")
    codec = codec_for(request.app.state.settings)
    body = await request.json()
    payloads = list(json_format.ParseDict(body, Payloads()).payloads)
    if codec is None:
        return json_format.MessageToDict(Payloads(payloads=payloads))
    if not decode:
        return json_format.MessageToDict(Payloads(payloads=await codec.encode(payloads)))
    allowed = await _owned_by(request, principal, payloads)
    opened = await codec.decode([p for p, ok in zip(payloads, allowed, strict=True) if ok])
    result = [opened.pop(0) if ok else p for p, ok in zip(payloads, allowed, strict=True)]
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(request: Request) -> dict[str, Any]:
    return await _transform(request, decode=True)


@router.post("/encode")
async def encode(request: Request) -> dict[str, Any]:
    return await _transform(request, decode=False)
