"""The remote codec endpoint the Temporal Web UI calls to show encrypted payloads.

Protocol (Temporal's): ``POST /codec/decode`` and ``/codec/encode`` with
``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``. Point the UI at it with
``--ui-codec-endpoint http://127.0.0.1:8000/codec`` (`followthrough dev` does). Only people
holding the API key may decode — except on the embedded dev stack, where a browser on this
machine may (the UI cannot attach our key; the server itself never sees plaintext either way).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from followthrough.temporal.converter import codec_for

router = APIRouter(prefix="/codec", tags=["codec"])
PUBLIC = True  # checks the key itself (see module docstring)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _authorised(request: Request) -> None:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if token and secrets.compare_digest(token, request.app.state.api_key):
        return
    client = request.client.host if request.client else ""
    if request.app.state.settings.embedded and client in _LOOPBACK | {"testclient"}:
        return
    raise HTTPException(401, "the codec endpoint needs Authorization: Bearer <FOLLOWTHROUGH_API_KEY>")


async def _transform(request: Request, decode: bool) -> dict[str, Any]:
    _authorised(request)
    codec = codec_for(request.app.state.settings)
    body = await request.json()
    payloads = json_format.ParseDict(body, Payloads()).payloads
    if codec is not None:
        result: list[Payload] = await (codec.decode(payloads) if decode else codec.encode(payloads))
    else:
        result = list(payloads)
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(request: Request) -> dict[str, Any]:
    return await _transform(request, decode=True)


@router.post("/encode")
async def encode(request: Request) -> dict[str, Any]:
    return await _transform(request, decode=False)
