"""The OpenAPI document states the error answers each route gives, and the routes give them.

The fuzz test (tests/api/test_fuzz.py) checks every answer it provokes with a valid key against
the document (``status_code_conformance``); these provoke the ones it cannot: no key, a rate
limit, a body past the limit, Temporal down.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from followthrough.api.openapi import ROUTE_ANSWERS
from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys
from tests.conftest import API_KEY, copy_sqlite

ERROR_REF = {"$ref": "#/components/schemas/ErrorAnswer"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(), api_key="k" * 40).openapi()


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, item in document["paths"].items() for m, op in item.items()}


def documented(document: dict[str, Any], method: str, path: str, status: int) -> bool:
    return str(status) in document["paths"][path][method.lower()]["responses"]


def test_every_route_specific_answer_names_a_route(document: dict[str, Any]) -> None:
    assert sorted(set(ROUTE_ANSWERS) - set(operations(document))) == []


def test_keyed_routes_state_the_key_answers_and_path_and_body_ones(document: dict[str, Any]) -> None:
    ops = operations(document)
    keyed = {name: op for name, op in ops.items() if name.split()[1].startswith("/api/")}
    assert len(keyed) >= 50
    for name, op in keyed.items():
        answers = op["responses"]
        missing = {"401", "403", "429", "503"} - set(answers)
        missing |= {"404"} - set(answers) if "{" in name else set()
        missing |= {"413"} - set(answers) if "requestBody" in op else set()
        assert not missing, f"{name} does not state {sorted(missing)}"
        assert answers["401"]["content"]["application/json"]["schema"] == ERROR_REF
    webhooks = [op for name, op in ops.items() if " /webhook/" in name]
    assert webhooks and all({"400", "401", "403", "429", "503"} <= set(op["responses"]) for op in webhooks)
    assert set(ops["GET /healthz"]["responses"]) == {"200"}  # a probe answers, or is down
    schema = document["components"]["schemas"]["ErrorAnswer"]
    assert schema["required"] == ["detail"]


def test_a_start_route_states_the_answer_for_an_id_already_started(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/payments"]["post"]["responses"]
    assert responses["200"]["content"] == responses["202"]["content"]  # the same body as a new start
    assert "409" in responses


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


@pytest.fixture
async def app_services(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Path
) -> AsyncIterator[Services]:
    settings = make_settings(
        followthrough_rate_limit="1/minute",
        followthrough_max_body_bytes=1024,
        followthrough_dev_port=closed_port(),  # Temporal is not there
    )
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    services = await Services.open(settings)
    try:
        yield services
    finally:
        await services.close()


async def test_the_answers_routes_give_without_the_fuzzers_help_are_documented(
    app_services: Services, document: dict[str, Any]
) -> None:
    app = create_app(app_services.settings, api_key=API_KEY, services=app_services)
    org_key = (await ApiKeys(app_services.database).create("org-answers", ["read"])).key
    seen: list[tuple[str, str, int]] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:

        async def call(method: str, path: str, route: str | None = None, key: str | None = None, **kw: Any) -> int:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            status = (await http.request(method, path, headers=headers, **kw)).status_code
            seen.append((method, route or path, status))
            return status

        assert await call("GET", "/api/workflows") == 401  # no key
        assert await call("GET", "/api/workflows", key="ft_k_not_a_key") == 401
        assert await call("POST", "/api/payments", key=org_key, json={}) == 403  # a read-only key
        big = b"{" + b" " * 4096 + b"}"
        assert await call("POST", "/api/followups", key=API_KEY, content=big) == 413
        assert await call("GET", "/api/workflows", key=API_KEY) == 503  # Temporal is down
        assert await call("GET", "/api/workflows/w-1", "/api/workflows/{workflow_id}", key=API_KEY) == 429
        assert await call("GET", "/webhook/whatsapp") in (401, 403)
    undocumented = [(m, p, s) for m, p, s in seen if not documented(document, m, p, s)]
    assert undocumented == []
