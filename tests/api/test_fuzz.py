"""Fuzz every route of the real app, with the real dev server and a worker behind it.

Schemathesis generates requests from the app's own OpenAPI document (a fixed number per route,
derandomized: the same requests on every run), sent alternately with the operator's key and an
organization's key. Every answer must be no 5xx (``not_a_server_error``), a status the route
documents (``status_code_conformance``: the document states each route's 4xx/5xx answers, see
``api/openapi.py``) and fit that status's schema (``response_schema_conformance``). Afterwards
no execution the fuzz started may be failing its workflow task over and over (an input that
passed validation and jams a workflow). The signed webhooks mostly answer 401/403 to the
fuzzer, which is what they should do; tests/api/test_openapi_answers.py provokes the answers
the fuzzer's valid keys cannot (401, 413, 429, 503).

Hypothesis drives generation synchronously, so it runs in a thread; each request is sent on the
test's event loop, where the app, its store and the Temporal client live.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys
from tests.conftest import API_KEY

#: Requests per route at most (hypothesis stops early on small input spaces); 56 routes fuzz in ~30 s.
EXAMPLES_PER_ROUTE = 25
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def _httpx_kwargs(transport: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis's request (``requests`` style) as ``httpx.AsyncClient.request`` arguments."""
    kwargs = {k: transport[k] for k in ("method", "url", "headers", "params", "json") if k in transport}
    data = transport.get("data")
    if isinstance(data, str | bytes):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    form: dict[str, Any] = {}
    files: list[tuple[str, tuple[str, bytes]]] = []
    for name, spec in transport.get("files") or []:
        filename, value = spec[0], spec[1]
        if not isinstance(value, str | bytes):
            value = json.dumps(value)
        if filename is None:  # requests' way of writing a plain form field
            form[name] = value if isinstance(value, str) else value.decode("latin-1")
        else:
            files.append((name, (filename, value if isinstance(value, bytes) else value.encode())))
    if files:
        kwargs["files"] = files
    if form or files:
        kwargs["data"] = {**form, **(kwargs.get("data") or {})}
    return kwargs


async def test_no_route_answers_5xx_to_generated_requests(
    dev_client: Client, services: Services, dev_worker: Worker
) -> None:
    # no rate limits: every request reaches a route
    unlimited = {"followthrough_rate_limit": "", "followthrough_webhook_rate_limit": ""}
    settings_ = services.settings.model_copy(update=unlimited)
    app = create_app(settings_, api_key=API_KEY, services=services, client=dev_client)
    org_key = (await ApiKeys(services.database).create("org-fuzz", ["read", "write", "admin"])).key
    keys = [API_KEY, org_key]
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as http:
        schema = schemathesis.openapi.from_dict((await http.get("/openapi.json")).json())
        operations = [result.ok() for result in schema.get_all_operations()]
        sent: list[tuple[str, int]] = []
        failures: list[str] = []

        def send(case: Any) -> httpx.Response:
            key = keys[len(sent) % 2]
            transport = case.as_transport_kwargs(base_url="http://t", headers={"Authorization": f"Bearer {key}"})
            request = http.build_request(**_httpx_kwargs(transport))
            request.read()  # a multipart body is a stream; read, it can be shown in a failure
            return asyncio.run_coroutine_threadsafe(http.send(request), loop).result(timeout=60)

        def fuzz(operation: Any) -> Callable[[], None]:
            @settings(
                max_examples=EXAMPLES_PER_ROUTE,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                response = send(case)
                sent.append((operation.label, response.status_code))
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, FailureGroup) as exc:
                    request = response.request
                    failures.append(
                        f"{operation.label}: {request.method} {request.url} -> {response.status_code} "
                        f"{response.text[:300]}\n    {str(exc).strip().splitlines()[0]}"
                    )

            return run

        began = time.monotonic()
        for operation in operations:
            await asyncio.to_thread(fuzz(operation))
        elapsed = time.monotonic() - began

    server_errors = [(label, code) for label, code in sent if code >= 500]
    routes = {label for label, _ in sent}
    print(
        f"\nfuzz: {len(sent)} requests over {len(routes)} of {len(operations)} routes in {elapsed:.0f} s; "
        f"5xx: {len(server_errors)}; check failures: {len(failures)}"
    )
    for failure in failures[:40]:
        print(failure)
    # No input a route accepted may leave a workflow failing its task over and over: every
    # execution the fuzz started is described once its worker had a few seconds to take it.
    await asyncio.sleep(3)
    started, jammed = 0, []
    queue = services.settings.temporal_task_queue
    async for execution in dev_client.list_workflows(f'TaskQueue = "{queue}" AND ExecutionStatus = "Running"'):
        started += 1
        described = await dev_client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        raw = described.raw_description
        if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 1:
            jammed.append((execution.workflow_type, execution.id, raw.pending_workflow_task.attempt))
    print(f"fuzz: {started} executions still running, {len(jammed)} with a failing workflow task: {jammed[:5]}")
    assert jammed == []
    assert routes == {op.label for op in operations}, "a route was never fuzzed"
    assert len(sent) >= 10 * len(operations)
    assert server_errors == []
    assert failures == []
